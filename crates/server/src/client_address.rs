//! Which address a request comes from, for the login limits: the TCP peer, or, when the peer is a reverse
//! proxy the operator trusts, the address the proxies report in `X-Forwarded-For`. Without trusted proxies the
//! header is ignored, since any client can write it.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::HeaderMap;

/// An address with a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u32,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        let (network, ip, bits) = match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => (u128::from(u32::from(network)), u128::from(u32::from(ip)), 32),
            (IpAddr::V6(network), IpAddr::V6(ip)) => (u128::from(network), u128::from(ip), 128),
            _ => return false,
        };
        let shift = bits - self.prefix;
        shift == 128 || network >> shift == ip >> shift
    }
}

/// The networks whose connections are reverse proxies (`--trusted-proxies`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<Vec<Network>>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and networks; an empty list trusts no one.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let invalid = || format!("`{entry}` is not an IP address or a network like 10.0.0.0/8");
            let (address, prefix) = match entry.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (entry, None),
            };
            let address = address.parse::<IpAddr>().map_err(|_| invalid())?.to_canonical();
            let bits = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(prefix) => prefix.parse::<u32>().ok().filter(|p| *p <= bits).ok_or_else(invalid)?,
                None => bits,
            };
            networks.push(Network { address, prefix });
        }
        Ok(TrustedProxies(Arc::new(networks)))
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client of a request from `peer`. Behind trusted proxies it is the right-most `X-Forwarded-For` hop
    /// that is not itself a trusted proxy: hops to its left were written by the client and prove nothing. A hop
    /// that is not an address ends the walk at the proxy that passed it on.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), &forwarded(&["203.0.113.7"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse().expect("list");
        let headers = forwarded(&["198.51.100.1, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &headers), ip("203.0.113.7"));
        // A peer outside the list is the client whatever it sends.
        assert_eq!(proxies.client(ip("192.0.2.9"), &headers), ip("192.0.2.9"));
        // IPv4-mapped IPv6 peers are matched as IPv4.
        assert_eq!(proxies.client(ip("::ffff:127.0.0.1"), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn a_garbled_hop_stops_at_the_proxy_that_passed_it_on() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().expect("list");
        let headers = forwarded(&["203.0.113.7, not-an-address, 10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("10.0.0.2"));
        // Only proxies: the left-most hop is as far as the chain goes.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &forwarded(&["10.0.0.3"])),
            ip("10.0.0.3")
        );
        assert_eq!(proxies.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
    }

    #[test]
    fn networks_parse_with_their_prefix_and_refuse_nonsense() {
        let proxies: TrustedProxies = "192.168.0.0/16,fd00::/8,0.0.0.0/0".parse().expect("list");
        assert!(proxies.trusts(ip("192.168.4.5")) && proxies.trusts(ip("fd12::1")) && proxies.trusts(ip("8.8.8.8")));
        let narrow: TrustedProxies = "192.168.1.0/24".parse().expect("list");
        assert!(!narrow.trusts(ip("192.168.2.1")) && !narrow.trusts(ip("fd12::1")));
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0.0/x", "::1/129"] {
            let error = bad.parse::<TrustedProxies>().expect_err(bad);
            assert!(error.contains(bad), "{error}");
        }
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }
}
