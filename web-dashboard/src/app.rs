//! The page: settings from its address, a poll loop over the resilient browser client, and
//! the DOM updates. Everything it shows comes from [`PollState::view`]; this module only moves
//! [`El`] trees into the document (text nodes and attribute values, never markup).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt as _, StreamExt as _};
use tether_wasm::tether_core::Runtime as _;
use tether_wasm::{BreakDuration, BreakerConfig, BrowserRuntime, ServiceClient};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, HtmlButtonElement, HtmlInputElement};

use crate::data::{Dashboard, History};
use crate::settings::{self, SettingError, Settings};
use crate::state::PollState;
use crate::time::Clock;
use crate::view::{El, Node, Ns};

const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// The name the monitoring server's metrics and breaker are kept under in the page's client.
const SERVICE: &str = "monitoring";

/// A poll's time limit per attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries of a failed request (GETs: always safe to repeat).
const RETRIES: u32 = 1;

/// Failed attempts in a row that open the breaker (a poll is two requests of up to two
/// attempts each, so the first failed poll still reports the server's own error, and the
/// second opens it), and how long it stays open before a probe.
const BREAKER_FAILURES: u32 = 5;
const BREAKER_OPEN: Duration = Duration::from_secs(15);

/// The running page.
struct App {
    doc: Document,
    settings: RefCell<Settings>,
    state: RefCell<PollState>,
    client: RefCell<ServiceClient>,
    /// The bearer token for a server whose reads are protected: typed into the form, kept in
    /// memory only (never in the address, the history or storage).
    token: RefCell<Option<String>>,
    /// Wakes the poll loop early (the refresh button, new settings).
    wake: mpsc::UnboundedSender<()>,
}

/// The client the page polls through: retries, a per-attempt time limit and a circuit
/// breaker, so an unreachable server costs a fast failure rather than a hung page.
fn client_for(source: &str) -> Result<ServiceClient, tether_wasm::Error> {
    ServiceClient::builder(SERVICE, source)
        .timeout(ATTEMPT_TIMEOUT)
        .max_retries(RETRIES)
        .breaker(BreakerConfig {
            consecutive_failures: Some(BREAKER_FAILURES),
            break_duration: BreakDuration::Constant(BREAKER_OPEN),
            ..BreakerConfig::default()
        })
        .build()
}

/// The viewer's clock.
fn clock() -> Clock {
    let now = js_sys::Date::now();
    let offset = js_sys::Date::new_0().get_timezone_offset();
    Clock {
        now: now as i64,
        utc_offset_minutes: -(offset as i32),
    }
}

/// The page's entry point: reads the settings, wires the controls, starts polling.
pub(crate) fn run() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let doc = window.document().ok_or("no document")?;
    let href = window.location().href()?;
    let (settings, errors) = Settings::from_page(&href);
    let client = client_for(&settings.source).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let (wake, woken) = mpsc::unbounded();
    let app = Rc::new(App {
        doc,
        settings: RefCell::new(settings),
        state: RefCell::new(PollState::default()),
        client: RefCell::new(client),
        token: RefCell::new(None),
        wake,
    });
    app.show_settings(&errors);
    app.wire()?;
    app.render();
    wasm_bindgen_futures::spawn_local(poll_loop(app, woken));
    Ok(())
}

/// Polls, renders, waits for the interval or a wake-up, forever.
async fn poll_loop(app: Rc<App>, mut woken: mpsc::UnboundedReceiver<()>) {
    loop {
        Box::pin(app.poll()).await;
        let interval = app.settings.borrow().interval;
        let sleep = BrowserRuntime::new().sleep(interval).fuse();
        let wake = woken.next().fuse();
        futures::pin_mut!(sleep, wake);
        futures::select! {
            () = sleep => {}
            _ = wake => {}
        }
        // Clicks while a poll ran ask for one poll, not one each.
        while woken.try_recv().is_ok() {}
    }
}

impl App {
    fn by_id(&self, id: &str) -> Option<Element> {
        self.doc.get_element_by_id(id)
    }

    /// One poll: `/dashboard` and the newest `/history` entries, concurrently.
    async fn poll(&self) {
        self.set_busy(true);
        let client = self.client.borrow().clone();
        let source = self.settings.borrow().source.clone();
        let history_path = self.state.borrow().trends.history_query();
        let token = self.token.borrow().clone();
        let get = |path: &str| {
            let request = client.get(path);
            match &token {
                Some(t) => request.bearer_auth(t),
                None => request,
            }
        };
        let (dashboard, history) = futures::join!(
            get("/dashboard").send_json::<Dashboard>(),
            get(&history_path).send_json::<History>(),
        );
        // New settings while this poll ran: its answers belong to the old source.
        if self.settings.borrow().source != source {
            self.set_busy(false);
            return;
        }
        let clock = clock();
        {
            let mut state = self.state.borrow_mut();
            match dashboard {
                Ok(d) => state.dashboard_received(d, clock.now),
                Err(e) => state.dashboard_failed(e.to_string(), clock.now),
            }
            match history {
                Ok(h) => state.history_received(&h, clock.utc_offset_minutes),
                Err(e) => state.history_failed(e.to_string()),
            }
        }
        self.set_busy(false);
        self.render();
    }

    /// Shows the state.
    fn render(&self) {
        let clock = clock();
        let settings = self.settings.borrow();
        let state = self.state.borrow();
        let view = state.view(&settings.source, settings.interval.as_secs(), clock);
        if let Some(banner) = self.by_id("banner") {
            if let Some(b) = &view.banner {
                self.fill(&banner, b);
                let _ = banner.remove_attribute("hidden");
            } else {
                banner.set_text_content(None);
                let _ = banner.set_attribute("hidden", "");
            }
        }
        if let Some(status) = self.by_id("status") {
            self.fill(&status, &view.status);
        }
        if let Some(overview) = self.by_id("overview") {
            self.fill(&overview, &view.overview);
        }
        let received = state.received.as_ref().map(|r| r.at.to_string());
        for (id, body) in &view.panels {
            if let Some(section) = self.by_id(id) {
                if let Ok(Some(target)) = section.query_selector(".body") {
                    self.fill(&target, body);
                }
                match &received {
                    Some(at) => {
                        let _ = section.set_attribute("data-updated", at);
                    }
                    None => {
                        let _ = section.remove_attribute("data-updated");
                    }
                }
                let stale = if state.is_stale() { "true" } else { "false" };
                let _ = section.set_attribute("data-stale", stale);
            }
        }
        let title = if state.is_stale() {
            "Tether monitoring (stale)"
        } else {
            "Tether monitoring"
        };
        self.doc.set_title(title);
    }

    /// Replaces `target`'s children with `content`.
    fn fill(&self, target: &Element, content: &El) {
        target.set_text_content(None);
        match build(&self.doc, &Node::El(content.clone())) {
            Ok(node) => {
                let _ = target.append_child(&node);
            }
            Err(e) => target.set_text_content(Some(&format!("cannot draw: {e:?}"))),
        }
    }

    fn set_busy(&self, busy: bool) {
        if let Some(button) = self
            .by_id("refresh")
            .and_then(|b| b.dyn_into::<HtmlButtonElement>().ok())
        {
            button.set_disabled(busy);
            button.set_text_content(Some(if busy { "Refreshing…" } else { "Refresh" }));
        }
    }

    /// Puts the settings into the form, with any errors.
    fn show_settings(&self, errors: &[SettingError]) {
        let settings = self.settings.borrow();
        if let Some(input) = self.input("source") {
            input.set_value(&settings.source);
        }
        if let Some(input) = self.input("interval") {
            input.set_value(&settings.interval.as_secs().to_string());
        }
        if let Some(out) = self.by_id("settings-error") {
            let text: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
            out.set_text_content(Some(&text.join("; ")));
        }
    }

    fn input(&self, id: &str) -> Option<HtmlInputElement> {
        self.by_id(id)?.dyn_into::<HtmlInputElement>().ok()
    }

    /// The refresh button wakes the loop; the settings form replaces source and interval.
    fn wire(self: &Rc<Self>) -> Result<(), JsValue> {
        if let Some(button) = self.by_id("refresh") {
            let wake = self.wake.clone();
            let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                let _ = wake.unbounded_send(());
            });
            button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())?;
            // The page never removes its controls: the listener lives as long as it.
            on_click.forget();
        }
        if let Some(form) = self.by_id("settings") {
            let app = Rc::clone(self);
            let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                e.prevent_default();
                app.apply_settings();
            });
            form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref())?;
            on_submit.forget();
        }
        Ok(())
    }

    /// Reads the form; on valid values switches to them (a new source starts afresh).
    fn apply_settings(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let href = window.location().href().unwrap_or_default();
        let source = self.input("source").map(|i| i.value()).unwrap_or_default();
        let interval = self
            .input("interval")
            .map(|i| i.value())
            .unwrap_or_default();
        let token = self.input("token").map(|i| i.value()).unwrap_or_default();
        let mut errors = Vec::new();
        let source = settings::resolve_source(&href, &source).map_err(|e| errors.push(e));
        let interval = settings::parse_interval(&interval).map_err(|e| errors.push(e));
        let token = settings::parse_token(&token).map_err(|e| errors.push(e));
        let (Ok(source), Ok(interval), Ok(token)) = (source, interval, token) else {
            self.show_settings(&errors);
            return;
        };
        *self.token.borrow_mut() = token;
        let changed_source = self.settings.borrow().source != source;
        if changed_source {
            match client_for(&source) {
                Ok(client) => *self.client.borrow_mut() = client,
                Err(e) => {
                    self.show_settings(&[SettingError(format!("source {source:?}: {e}"))]);
                    return;
                }
            }
            *self.state.borrow_mut() = PollState::default();
        }
        *self.settings.borrow_mut() = Settings { source, interval };
        if let Some(url) = self.settings.borrow().page_url(&href)
            && let Ok(history) = window.history()
        {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
        }
        self.show_settings(&[]);
        self.render();
        let _ = self.wake.unbounded_send(());
    }
}

/// Builds a DOM node from a [`Node`]: elements with `createElement(NS)`, attribute values
/// with `setAttribute`, text with `createTextNode`.
fn build(doc: &Document, node: &Node) -> Result<web_sys::Node, JsValue> {
    match node {
        Node::Text(text) => Ok(doc.create_text_node(text).into()),
        Node::El(el) => {
            let element = match el.ns {
                Ns::Html => doc.create_element(el.tag)?,
                Ns::Svg => doc.create_element_ns(Some(SVG_NS), el.tag)?,
            };
            for (name, value) in &el.attrs {
                element.set_attribute(name, value)?;
            }
            for child in &el.children {
                element.append_child(&build(doc, child)?)?;
            }
            Ok(element.into())
        }
    }
}
