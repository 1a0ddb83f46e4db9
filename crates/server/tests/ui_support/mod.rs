//! Signing in to the web UI over plain HTTP: the session cookie and the CSRF token of a page.
#![allow(dead_code)] // each UI test binary uses a different part

use reqwest::redirect::Policy;

use crate::support::TestApp;

pub const PASSWORD: &str = "a long enough password";

/// A browser-like HTTP client of the UI that does not follow redirects, so tests see where they point.
pub struct UiClient {
    pub base: String,
    pub cookie: String,
    client: reqwest::Client,
}

#[derive(Debug)]
pub struct Page {
    pub status: reqwest::StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Page {
    /// The editor path of the class a create form saved: the redirect, or the form of the editor shown at once
    /// when the save had warnings.
    pub fn saved_class_path(&self) -> String {
        if let Some(location) = &self.location {
            return location.split('?').next().unwrap_or_default().to_owned();
        }
        assert!(self.html.contains("id=\"saved\""), "{}", self.html);
        let marker = "id=\"class-form\"";
        let form = &self.html[..self.html.find(marker).expect("class form")];
        let start = form.rfind("action=\"").expect("form action") + "action=\"".len();
        let end = form[start..].find('"').expect("action ends");
        form[start..start + end].to_owned()
    }

    /// The CSRF token the page put into its forms.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.html.find(marker).expect("page has a form with a CSRF token") + marker.len();
        let end = self.html[start..].find('"').expect("token ends");
        self.html[start..start + end].to_owned()
    }
}

/// The `Set-Cookie` header that sets cookie `name`.
pub fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Opens the login page as a browser would: answers its pre-session cookie (`name=value`) and the CSRF token
/// of its form.
pub async fn login_form(client: &reqwest::Client, base: &str) -> (String, String) {
    let response = client.get(format!("{base}/login")).send().await.expect("login page");
    let cookie = set_cookie(response.headers(), "classbill_login").expect("login form cookie");
    let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
    let page = Page {
        status: response.status(),
        location: None,
        headers: response.headers().clone(),
        html: response.text().await.expect("body"),
    };
    (cookie, page.csrf())
}

impl UiClient {
    pub async fn login(app: &TestApp, login: &str) -> UiClient {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        let (form_cookie, csrf) = login_form(&client, &app.base).await;
        let response = client
            .post(format!("{}/login", app.base))
            .header("cookie", &form_cookie)
            .form(&[
                ("login", login),
                ("password", PASSWORD),
                ("next", "/classes"),
                ("csrf", &csrf),
            ])
            .send()
            .await
            .expect("login sent");
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER, "login succeeds");
        let set_cookie = set_cookie(response.headers(), "classbill_session").expect("session cookie");
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/")
        );
        let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
        UiClient {
            base: app.base.clone(),
            cookie,
            client,
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Page {
            status,
            location,
            headers,
            html: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("page requested");
        Self::read(response).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("form sent");
        Self::read(response).await
    }
}
