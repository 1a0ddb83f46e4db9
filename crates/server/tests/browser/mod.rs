//! Headless Chromium through chromedriver for the UI stories that need a real browser (page scripts, frames,
//! what is shown or hidden). One copy of the driver and of the small steps a story is made of, so every browser
//! test starts the browser, signs in and reports a missing element the same way.
//!
//! Elements are found by id unless a function says otherwise (`click_css`, `text`): the pages give every input
//! an id derived from its field name, so an id is what a story knows.
#![allow(dead_code)] // each browser test binary compiles this module and uses a different part of it

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::TestApp;
use crate::ui_support::PASSWORD;

/// chromedriver on a free port, stopped when dropped so a failed test leaves no process behind.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (scripts/test.sh installs chromium-driver)");
    // Wait until it listens; this is start-up, not an assertion on time.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A new browser session: its own cookies, so two sessions of one driver are two users.
pub async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1366,900"]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("browser session")
}

/// Signs in through the login page and waits for the first page behind it.
pub async fn log_in(browser: &Client, app: &TestApp, login: &str) {
    browser.goto(&format!("{}/login", app.base)).await.expect("login page");
    fill(browser, "login", login).await;
    fill(browser, "password", PASSWORD).await;
    click_css(browser, "form button[type=submit]").await;
    wait_for(browser, "header.top").await;
}

/// The element `id`; when it is missing, the failure names it.
pub async fn by_id(browser: &Client, id: &str) -> Element {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Replaces the text of the input `id`.
pub async fn fill(browser: &Client, id: &str, value: &str) {
    let input = by_id(browser, id).await;
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Picks the option with `value` in the select `id`.
pub async fn choose(browser: &Client, id: &str, value: &str) {
    by_id(browser, id).await.select_by_value(value).await.unwrap();
}

/// Clicks the element `id`: a checkbox, a button, a link.
pub async fn click(browser: &Client, id: &str) {
    by_id(browser, id).await.click().await.unwrap();
}

/// Clicks the first element matching the CSS selector, for what has no id (a row's checkbox, a link by its
/// target).
pub async fn click_css(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Clicks the element matching `css` and waits for the page the click loads. The old page is marked first, so
/// the wait cannot be met by what is still showing while the browser loads the new one.
pub async fn click_to_load(browser: &Client, css: &str) {
    browser
        .execute("document.documentElement.dataset.leaving = 'yes'", Vec::new())
        .await
        .unwrap();
    click_css(browser, css).await;
    wait_for(browser, "html:not([data-leaving])").await;
}

/// Presses the form's submit button for `action` (`save`, `save_copy`, …) and waits for the page it leads to.
pub async fn submit(browser: &Client, action: &str) {
    click_to_load(browser, &format!("button[name=action][value={action}]")).await;
}

/// Whether the element `id` is displayed, which is how the page scripts hide the inputs that do not apply.
pub async fn shown(browser: &Client, id: &str) -> bool {
    by_id(browser, id).await.is_displayed().await.unwrap()
}

/// The current value of the input `id`, as typed or kept after a refused save.
pub async fn value(browser: &Client, id: &str) -> String {
    by_id(browser, id)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// The text of the element matching the CSS selector; when it is missing, the failure shows the page instead.
pub async fn text(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap(),
        Err(e) => panic!("{css}: {e}\n--- the page says:\n{}", main_text(browser).await),
    }
}

/// Waits for the element matching the CSS selector (the next page, a fragment the page swaps in, a frame's
/// body) and answers it.
pub async fn wait_for(browser: &Client, css: &str) -> Element {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// The text of the page's `main` element, without the navigation.
pub async fn main_text(browser: &Client) -> String {
    browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap()
}
