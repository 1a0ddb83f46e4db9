//! What an import keeps between its batches: the billing columns of the parties it has met and the periods it
//! has read around them, so that a batch reads only the parties it has not met. Each batch first asks the store
//! whether a party or a period was changed since the last batch ([`billing_changes`]); if one was, or where the
//! store cannot tell, everything kept is read again.
//!
//! A time-ordered file names nearly every customer in every stretch of its rows, so a memo that holds fewer
//! parties than the customer base forgets most of them before they come back: each party is kept in a few dozen
//! bytes, the columns that many parties share once.

use std::collections::HashSet;
use std::sync::Arc;

use classbill_store::Tx;
use classbill_store::billing_changes::{self, Mark};
use classbill_store::parties::PartyBilling;
use classbill_store::periods::PeriodRow;

use crate::error::EngineResult;

/// Parties kept at most, about 200 MiB with one period each: an import of a larger customer base starts over when
/// it has met this many, so that its memory stays bounded.
const MAX_PARTIES: usize = 1_500_000;

/// The parties met, by id.
pub(super) type Parties = super::FastMap<i64, KnownParty>;

/// Held by the caller of a series of batches; a fresh one keeps nothing.
#[derive(Default)]
pub struct IngestMemo {
    /// Where the last batch left the store's billing writes, after its own; `None` before the first batch and
    /// after a failed one.
    sealed: Option<Mark>,
    /// Where the running batch found them.
    begun: Option<Mark>,
    pub(super) parties: Parties,
    profiles: HashSet<Arc<Profile>>,
}

/// The billing columns of a party that parties of one class and owner have in common.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct Profile {
    pub(super) owner_reseller_id: Option<i64>,
    pub(super) currency: String,
    billing_period: String,
    time_zone: String,
    status: String,
}

/// One party as the batches of an import know it.
pub(super) struct KnownParty {
    pub(super) profile: Arc<Profile>,
    pub(super) activated_at: i64,
    period_anchor: Option<i64>,
    /// Read when a batch first places a record of the party.
    pub(super) periods: Option<KnownPeriods>,
}

impl KnownParty {
    /// Terminated: its last period ends at the termination and none follows (§5.9 rule 5).
    pub(super) fn closed(&self) -> bool {
        self.profile.status == "closed"
    }

    /// The stored columns again, for the steps that make periods.
    pub(super) fn billing(&self, id: i64) -> PartyBilling {
        let p = &self.profile;
        PartyBilling {
            id,
            owner_reseller_id: p.owner_reseller_id,
            currency: p.currency.clone(),
            billing_period: p.billing_period.clone(),
            time_zone: p.time_zone.clone(),
            activated_at: self.activated_at,
            status: p.status.clone(),
            period_anchor: self.period_anchor,
        }
    }
}

/// A stored period as placing a record needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct KnownPeriod {
    pub(super) id: i64,
    pub(super) start_at: i64,
    pub(super) end_at: i64,
    pub(super) open: bool,
}

/// The periods of one party read for a span of time.
pub(super) struct KnownPeriods {
    from_us: i64,
    to_us: i64,
    /// The party's periods that overlap the span, and its last one, by start.
    rows: Box<[KnownPeriod]>,
}

impl KnownPeriods {
    /// `rows` sorted by start.
    pub(super) fn new(from_us: i64, to_us: i64, rows: &[PeriodRow]) -> Self {
        let rows = rows
            .iter()
            .map(|r| KnownPeriod {
                id: r.id,
                start_at: r.start_at,
                end_at: r.end_at,
                open: r.status == "open",
            })
            .collect();
        KnownPeriods { from_us, to_us, rows }
    }

    /// Whether the rows hold every period of the party that overlaps `[from_us, to_us]`: the span lies in the
    /// one they were read for, or starts in it while the party's last period started inside it too, so that
    /// every later period is among them.
    pub(super) fn covers(&self, from_us: i64, to_us: i64) -> bool {
        match self.rows.last() {
            // The party had no period at all.
            None => true,
            Some(last) => self.from_us <= from_us && (to_us <= self.to_us || last.start_at <= self.to_us),
        }
    }

    pub(super) fn last(&self) -> Option<&KnownPeriod> {
        self.rows.last()
    }

    /// The period containing the instant.
    pub(super) fn containing(&self, at_us: i64) -> Option<&KnownPeriod> {
        let index = self.rows.partition_point(|r| r.start_at <= at_us);
        index.checked_sub(1).map(|i| &self.rows[i]).filter(|r| at_us < r.end_at)
    }
}

impl IngestMemo {
    /// At the start of a batch, inside its transaction: what was kept stays only if nothing was written since the
    /// last batch sealed it and the memo is not full.
    pub(super) async fn begin(&mut self, tx: &mut Tx) -> EngineResult<()> {
        let (unchanged, begun) = billing_changes::since(tx, self.sealed.take().as_ref()).await?;
        if !unchanged || self.parties.len() > MAX_PARTIES {
            self.forget();
        }
        self.begun = Some(begun);
        Ok(())
    }

    /// At the end of a batch, after its writes and before its commit.
    pub(super) async fn seal(&mut self, tx: &mut Tx) -> EngineResult<()> {
        if let Some(begun) = self.begun.take() {
            self.sealed = Some(billing_changes::after_own_writes(tx, begun).await?);
        }
        Ok(())
    }

    /// Drops everything kept, after writes that were undone.
    pub(super) fn forget(&mut self) {
        self.sealed = None;
        self.parties.clear();
        self.profiles.clear();
    }

    /// Keeps a party read from the store, its periods not yet known.
    pub(super) fn learn(&mut self, party: PartyBilling) {
        let profile = Profile {
            owner_reseller_id: party.owner_reseller_id,
            currency: party.currency,
            billing_period: party.billing_period,
            time_zone: party.time_zone,
            status: party.status,
        };
        let profile = match self.profiles.get(&profile) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared = Arc::new(profile);
                self.profiles.insert(Arc::clone(&shared));
                shared
            }
        };
        self.parties.insert(
            party.id,
            KnownParty {
                profile,
                activated_at: party.activated_at,
                period_anchor: party.period_anchor,
                periods: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(id: i64, owner: Option<i64>, zone: &str) -> PartyBilling {
        PartyBilling {
            id,
            owner_reseller_id: owner,
            currency: "EUR".to_owned(),
            billing_period: "monthly".to_owned(),
            time_zone: zone.to_owned(),
            activated_at: 1_000 + id,
            status: "active".to_owned(),
            period_anchor: (id == 2).then_some(5_000),
        }
    }

    #[test]
    fn parties_with_the_same_columns_share_them_and_give_their_own_back() {
        let mut memo = IngestMemo::default();
        memo.learn(party(1, None, "Europe/Berlin"));
        memo.learn(party(2, None, "Europe/Berlin"));
        memo.learn(party(3, Some(7), "Europe/Berlin"));
        memo.learn(party(4, None, "America/New_York"));
        let profile = |id: i64| &memo.parties[&id].profile;
        assert!(Arc::ptr_eq(profile(1), profile(2)));
        assert!(!Arc::ptr_eq(profile(1), profile(3)));
        assert!(!Arc::ptr_eq(profile(1), profile(4)));
        assert_eq!(memo.profiles.len(), 3);

        let again = memo.parties[&2].billing(2);
        let given = party(2, None, "Europe/Berlin");
        assert_eq!(
            (
                again.id,
                again.owner_reseller_id,
                again.activated_at,
                again.period_anchor
            ),
            (
                given.id,
                given.owner_reseller_id,
                given.activated_at,
                given.period_anchor
            )
        );
        assert_eq!(
            (again.currency, again.billing_period, again.time_zone, again.status),
            (given.currency, given.billing_period, given.time_zone, given.status)
        );
        assert_eq!(memo.parties[&3].billing(3).owner_reseller_id, Some(7));

        memo.forget();
        assert!(memo.parties.is_empty() && memo.profiles.is_empty());
    }

    fn row(id: i64, start_at: i64, end_at: i64, status: &str) -> PeriodRow {
        PeriodRow {
            id,
            party_id: 1,
            start_at,
            end_at,
            status: status.to_owned(),
            class_revision: None,
            frozen_at: None,
            close_error: None,
            created_at: 0,
            close_at: None,
        }
    }

    #[test]
    fn a_period_holds_its_start_but_not_its_end() {
        let known = KnownPeriods::new(
            0,
            100,
            &[row(1, 0, 10, "closed"), row(2, 10, 20, "open"), row(3, 30, 40, "open")],
        );
        let found = |at: i64| known.containing(at).map(|p| (p.id, p.open));
        assert_eq!(found(-1), None);
        assert_eq!(found(0), Some((1, false)));
        assert_eq!(found(9), Some((1, false)));
        assert_eq!(found(10), Some((2, true)));
        assert_eq!(found(25), None, "between two stored periods");
        assert_eq!(found(39), Some((3, true)));
        assert_eq!(found(40), None);
        assert_eq!(known.last().map(|p| p.id), Some(3));
    }

    #[test]
    fn periods_read_for_a_span_cover_later_spans_only_when_the_last_period_started_in_it() {
        let ending = KnownPeriods::new(100, 200, &[row(1, 0, 150, "open")]);
        assert!(ending.covers(120, 180));
        assert!(!ending.covers(50, 180), "starts before the span read");
        assert!(ending.covers(120, 400), "no period starts after 150 but the last one");
        let running = KnownPeriods::new(100, 200, &[row(1, 0, 1_000, "open")]);
        assert!(running.covers(150, 500));
        let empty = KnownPeriods::new(100, 200, &[]);
        assert!(empty.covers(0, 1_000), "a party without periods");
    }
}
