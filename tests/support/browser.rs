//! A small W3C WebDriver client for end-to-end tests in a real headless
//! Chromium, driven through the system's `chromedriver` (Debian's
//! `chromium-driver` package) found on `PATH`.
//!
//! It speaks HTTP/1.1 over `std::net::TcpStream` (one connection per
//! command, `Connection: close`) and JSON through `serde_json`, so the tests
//! need no HTTP client or WebDriver crate, and nothing ever downloads a
//! browser: without `chromedriver` and `chromium` installed, [`Browser::start`]
//! returns `None` and the test skips itself, unless `REFDB_REQUIRE_BROWSER=1`
//! (set in CI where the browser is installed) turns the skip into a failure.
//!
//! Every method panics on failure with the WebDriver error in the message:
//! these are test helpers, and a panic is the most useful report.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Special keys of the WebDriver keyboard (code points from the spec's
/// private-use range), for [`Browser::keys`] and [`Element::send_keys`].
pub mod keys {
    pub const ENTER: &str = "\u{E007}";
    pub const ARROW_DOWN: &str = "\u{E015}";
    pub const ARROW_UP: &str = "\u{E013}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const BACKSPACE: &str = "\u{E003}";
    pub const TAB: &str = "\u{E004}";
}

/// How long the `wait*` helpers poll before failing the test.
pub const WAIT_DEADLINE: Duration = Duration::from_secs(10);
/// How long chromedriver may take to answer `/status` with `ready`.
const START_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// Socket read timeout: above the session's page-load and script timeouts,
/// so that chromedriver reports a timeout before the socket gives up.
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// The key under which WebDriver serialises an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error, or a transport failure (then `status` is 0).
#[derive(Debug, Clone)]
pub struct WdError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.message)
    }
}

fn transport(message: String) -> WdError {
    WdError {
        status: 0,
        error: "transport".into(),
        message,
    }
}

/// What an [`Element`] needs to issue commands: cheap to clone, so elements
/// own it instead of borrowing the [`Browser`].
#[derive(Debug, Clone)]
struct Session {
    port: u16,
    id: String,
}

impl Session {
    /// Runs a command relative to `/session/{id}` and returns its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        command(
            self.port,
            method,
            &format!("/session/{}{path}", self.id),
            body.as_ref(),
        )
    }

    fn find_from(&self, scope: &str, css: &str) -> Result<Element, WdError> {
        let v = self.call(
            "POST",
            &format!("{scope}/element"),
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(self.element(&v))
    }

    fn find_all_from(&self, scope: &str, css: &str) -> Result<Vec<Element>, WdError> {
        let v = self.call(
            "POST",
            &format!("{scope}/elements"),
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(v.as_array()
            .map(|a| a.iter().map(|e| self.element(e)).collect())
            .unwrap_or_default())
    }

    fn element(&self, v: &Value) -> Element {
        let id = v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {v}"));
        Element {
            session: self.clone(),
            id: id.to_string(),
        }
    }

    fn exec(&self, script: &str, args: Vec<Value>) -> Result<Value, WdError> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// The page's visible text, for failure messages; never panics, since
    /// it is called while already reporting a failure.
    fn page_text(&self) -> String {
        let text = match self.exec(
            "return document.body ? document.body.innerText : ''",
            vec![],
        ) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(e) => return format!("<no page text: {e}>"),
        };
        let mut out: String = text.chars().take(2000).collect();
        if out.len() < text.len() {
            out.push('…');
        }
        out
    }
}

/// A headless Chromium session behind a private chromedriver process.
/// Dropping it ends the session (which closes the browser) and kills
/// chromedriver.
pub struct Browser {
    session: Session,
    driver: Child,
    // Holds the profile directory and chromedriver's log until the end.
    work: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or returns None
    /// (after saying why on stderr) when either is not installed; with
    /// `REFDB_REQUIRE_BROWSER=1` a missing browser panics instead.
    pub fn start() -> Option<Browser> {
        let (driver_bin, chromium_bin) = match (which("chromedriver"), which("chromium")) {
            (Some(d), Some(c)) => (d, c),
            (d, c) => {
                let missing: Vec<&str> = [("chromedriver", d.is_none()), ("chromium", c.is_none())]
                    .into_iter()
                    .filter_map(|(name, absent)| absent.then_some(name))
                    .collect();
                let reason = format!(
                    "{} not found on PATH (Debian: apt-get install chromium chromium-driver)",
                    missing.join(" and ")
                );
                if std::env::var("REFDB_REQUIRE_BROWSER").as_deref() == Ok("1") {
                    panic!("REFDB_REQUIRE_BROWSER=1 but {reason}");
                }
                eprintln!("skipped: {reason}");
                return None;
            }
        };

        let work = tempfile::tempdir().expect("tempdir for the browser");
        let profile = work.path().join("profile");
        let log = work.path().join("chromedriver.log");
        let port = free_port();
        let mut driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver_bin.display()));

        // Poll /status: chromedriver accepts connections a little after it
        // starts, and may also die at once (port taken, bad install).
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}); log:\n{}",
                    read_log(&log)
                );
            }
            if let Ok(v) = command(port, "GET", "/status", None)
                && v["ready"] == true
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "chromedriver not ready on port {port} after {START_DEADLINE:?}; log:\n{}",
                    read_log(&log)
                );
            }
            std::thread::sleep(POLL);
        }

        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    // Bounded, so a stuck page fails the test instead of
                    // hanging it; implicit 0 because the wait helpers poll.
                    "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 10_000},
                    "goog:chromeOptions": {
                        "binary": chromium_bin.to_string_lossy(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1280,900",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let created = match command(port, "POST", "/session", Some(&caps)) {
            Ok(v) => v,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "cannot create a browser session: {e}; log:\n{}",
                    read_log(&log)
                );
            }
        };
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {created}"))
            .to_string();
        Some(Browser {
            session: Session { port, id },
            driver,
            work,
        })
    }

    /// Runs a raw command relative to the session (`path` starts with `/`),
    /// for what the helpers below do not cover.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        self.session.call(method, path, body)
    }

    fn must(&self, what: &str, r: Result<Value, WdError>) -> Value {
        r.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Navigates and waits for the page load.
    pub fn goto(&self, url: &str) {
        let r = self.call("POST", "/url", Some(json!({"url": url})));
        self.must(&format!("goto {url}"), r);
    }

    pub fn url(&self) -> String {
        let r = self.call("GET", "/url", None);
        self.must("url", r).as_str().unwrap_or_default().to_string()
    }

    pub fn back(&self) {
        let r = self.call("POST", "/back", Some(json!({})));
        self.must("back", r);
    }

    pub fn refresh(&self) {
        let r = self.call("POST", "/refresh", Some(json!({})));
        self.must("refresh", r);
    }

    /// The first element matching `css`; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.session.find_from("", css).unwrap_or_else(|e| {
            panic!(
                "find {css:?} at {}: {e}\npage text:\n{}",
                self.url(),
                self.session.page_text()
            )
        })
    }

    /// The first element matching `css`, None if there is none (other
    /// errors, such as an invalid selector, still panic).
    pub fn try_find(&self, css: &str) -> Option<Element> {
        match self.session.find_from("", css) {
            Ok(e) => Some(e),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css:?}: {e}"),
        }
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.session
            .find_all_from("", css)
            .unwrap_or_else(|e| panic!("find_all {css:?}: {e}"))
    }

    /// Polls until an element matching `css` is present and displayed.
    pub fn wait(&self, css: &str) -> Element {
        let mut found = None;
        self.poll(&format!("{css:?} displayed"), || {
            // Errors (a stale element while the page re-renders) just mean
            // "not yet".
            found = self
                .session
                .find_from("", css)
                .ok()
                .filter(|e| e.try_displayed().unwrap_or(false));
            found.is_some()
        });
        found.expect("polled until found")
    }

    /// Polls `cond` until it returns true; panics with `description` and
    /// the page's text after [`WAIT_DEADLINE`].
    pub fn wait_until(&self, description: &str, cond: impl FnMut() -> bool) {
        self.poll(description, cond)
    }

    /// Polls until an element matching `css` has a text containing `needle`.
    pub fn wait_text(&self, css: &str, needle: &str) -> Element {
        let mut found = None;
        self.poll(&format!("{css:?} containing {needle:?}"), || {
            found = self
                .session
                .find_from("", css)
                .ok()
                .filter(|e| e.try_text().is_ok_and(|t| t.contains(needle)));
            found.is_some()
        });
        found.expect("polled until found")
    }

    fn poll(&self, description: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT_DEADLINE;
        loop {
            if cond() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {WAIT_DEADLINE:?} waiting for {description} at {}\npage text:\n{}",
                    self.url(),
                    self.session.page_text()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `script` as a function body (`arguments[i]` are `args`; pass
    /// elements with [`Element::to_arg`]) and returns what it returns.
    pub fn exec(&self, script: &str, args: Vec<Value>) -> Value {
        let r = self.session.exec(script, args);
        self.must(&format!("exec {script:?}"), r)
    }

    /// Like [`Browser::exec`], but the result is what the script passes to
    /// its callback, which is its last argument.
    pub fn exec_async(&self, script: &str, args: Vec<Value>) -> Value {
        let r = self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        );
        self.must(&format!("exec_async {script:?}"), r)
    }

    /// Turns an element reference returned by [`Browser::exec`] into an
    /// [`Element`].
    pub fn element(&self, v: &Value) -> Element {
        self.session.element(v)
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let r = self.call("GET", "/screenshot", None);
        let b64 = self.must("screenshot", r);
        let png = base64_decode(b64.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub fn set_window_size(&self, width: u32, height: u32) {
        let r = self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
        self.must("set_window_size", r);
    }

    /// Types `text` into whatever has the focus, as a user would (key down
    /// and up per character, through the Actions API); special keys are
    /// the constants of [`keys`].
    pub fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let c = c.to_string();
                [
                    json!({"type": "keyDown", "value": c}),
                    json!({"type": "keyUp", "value": c}),
                ]
            })
            .collect();
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        let r = self.call("POST", "/actions", Some(body));
        self.must(&format!("keys {text:?}"), r);
    }

    /// The temporary directory holding the profile and chromedriver's log
    /// (`chromedriver.log`), e.g. for screenshots of a failing test.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session makes chromedriver close Chromium; killing
        // chromedriver alone could leave the browser running.
        let _ = self.session.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element {
    session: Session,
    id: String,
}

impl Element {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        self.session
            .call(method, &format!("/element/{}{path}", self.id), body)
    }

    fn must(&self, what: &str, r: Result<Value, WdError>) -> Value {
        r.unwrap_or_else(|e| panic!("{what} on element {}: {e}", self.id))
    }

    /// The element as a script argument for [`Browser::exec`].
    pub fn to_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    pub fn click(&self) {
        let r = self.call("POST", "/click", Some(json!({})));
        self.must("click", r);
    }

    pub fn clear(&self) {
        let r = self.call("POST", "/clear", Some(json!({})));
        self.must("clear", r);
    }

    /// Focuses the element and types `text` (special keys allowed).
    pub fn send_keys(&self, text: &str) {
        let r = self.call("POST", "/value", Some(json!({"text": text})));
        self.must(&format!("send_keys {text:?}"), r);
    }

    fn try_text(&self) -> Result<String, WdError> {
        Ok(self
            .call("GET", "/text", None)?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The rendered (visible) text.
    pub fn text(&self) -> String {
        let r = self.try_text();
        r.unwrap_or_else(|e| panic!("text on element {}: {e}", self.id))
    }

    /// An attribute, except `value`, `checked` and `selected`, which are
    /// read as properties because the attributes only hold the initial
    /// state; a false boolean reads as None, like an absent attribute.
    pub fn attr(&self, name: &str) -> Option<String> {
        let v = if matches!(name, "value" | "checked" | "selected") {
            self.prop_json(name)
        } else {
            let r = self.call("GET", &format!("/attribute/{name}"), None);
            self.must(&format!("attr {name:?}"), r)
        };
        match v {
            Value::Null | Value::Bool(false) => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// A DOM property as text: strings as they are, other values as JSON
    /// (`true`, `42`), None when null or undefined.
    pub fn prop(&self, name: &str) -> Option<String> {
        match self.prop_json(name) {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// A DOM property, as JSON.
    pub fn prop_json(&self, name: &str) -> Value {
        let r = self.call("GET", &format!("/property/{name}"), None);
        self.must(&format!("prop {name:?}"), r)
    }

    fn try_displayed(&self) -> Result<bool, WdError> {
        Ok(self.call("GET", "/displayed", None)? == true)
    }

    pub fn is_displayed(&self) -> bool {
        let r = self.try_displayed();
        r.unwrap_or_else(|e| panic!("is_displayed on element {}: {e}", self.id))
    }

    /// The first descendant matching `css`; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.session
            .find_from(&format!("/element/{}", self.id), css)
            .unwrap_or_else(|e| panic!("find {css:?} within element {}: {e}", self.id))
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.session
            .find_all_from(&format!("/element/{}", self.id), css)
            .unwrap_or_else(|e| panic!("find_all {css:?} within element {}: {e}", self.id))
    }

    /// Selects the `<option>` of this `<select>` whose value is `value`,
    /// by clicking it, so that `input` and `change` fire as for a user.
    pub fn select(&self, value: &str) {
        let options = self.find_all("option");
        let values: Vec<String> = options
            .iter()
            .map(|o| o.prop("value").unwrap_or_default())
            .collect();
        match values.iter().position(|v| v == value) {
            Some(i) => options[i].click(),
            None => panic!("select {value:?}: no such option among {values:?}"),
        }
    }
}

/// A `data:` URL of an HTML page, for self-contained tests.
pub fn data_url(html: &str) -> String {
    let mut out = String::from("data:text/html;charset=utf-8,");
    for b in html.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~<>/=\"':;(){}[],!?*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first executable file called `name` in `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// A port that was free a moment ago. Another process could take it before
/// chromedriver binds it, which then fails the start loudly rather than
/// silently talking to a stranger.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn read_log(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    // The end is where the failure is.
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Sends one WebDriver command to chromedriver and returns the `value` of
/// the answer, or the WebDriver error it carries.
fn command(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
    let (status, raw) = http(port, method, path, body).map_err(transport)?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| WdError {
        status,
        error: "bad response".into(),
        message: format!("{e}: {}", String::from_utf8_lossy(&raw)),
    })?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(WdError {
            status,
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        })
    }
}

/// One HTTP/1.1 exchange on a fresh connection; returns status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Vec<u8>), String> {
    let body = body.map(|b| serde_json::to_vec(b).expect("json"));
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(b) = &body {
        req.push_str("Content-Type: application/json; charset=utf-8\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.as_deref().unwrap_or_default());

    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(&bytes).map_err(|e| format!("write: {e}"))?;

    // Read until the body is complete by its own framing rather than only
    // until EOF, so a server that keeps the connection open despite
    // `Connection: close` cannot stall the test.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(done) = parse_response(&raw, false)? {
            return Ok(done);
        }
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("read {method} {path}: {e}"))?;
        if n == 0 {
            return parse_response(&raw, true)?
                .ok_or_else(|| format!("connection closed mid-response to {method} {path}"));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// The status and body of `raw` if it holds a complete response; `eof`
/// says the connection has ended, which completes an unframed body.
fn parse_response(raw: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for (k, v) in lines.filter_map(|l| l.split_once(':')) {
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        if k == "content-length" {
            length = v.parse::<usize>().ok();
        } else if k == "transfer-encoding" && v.contains("chunked") {
            chunked = true;
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)
    } else if let Some(n) = length {
        (rest.len() >= n).then(|| rest[..n].to_vec())
    } else {
        eof.then(|| rest.to_vec())
    };
    Ok(body.map(|b| (status, b)))
}

/// The body of a chunked transfer once its last (empty) chunk has arrived.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&b[..eol]).ok()?;
        // Chunk extensions (`;name=value`) are allowed after the size.
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let start = eol + 2;
        if b.len() < start + size + 2 {
            return None;
        }
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
}

/// Decodes standard base64 (with or without padding; whitespace ignored).
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = sextet(c).ok_or_else(|| format!("invalid base64 byte {c:#04x}"))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
