//! A smoke test of the WebDriver client in `support::browser` against a
//! self-contained `data:` page: if this fails, the end-to-end browser tests
//! cannot be trusted either. Skips without chromedriver and chromium unless
//! `REFDB_REQUIRE_BROWSER=1`.

mod support;

use serde_json::json;
use support::browser::{Browser, data_url, keys};

const PAGE: &str = r#"<!doctype html>
<html><body>
<input id="name" autofocus>
<button id="greet" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + '!'">Greet</button>
<p id="out">nobody yet</p>
<select id="pick" onchange="document.getElementById('picked').textContent = 'picked ' + this.value">
  <option value="a">A</option><option value="b">B</option>
</select>
<p id="picked"></p>
<p id="late" style="display: none">late</p>
<script>
  document.getElementById('name').addEventListener('keydown', e => {
    if (e.key === 'Enter') document.getElementById('out').textContent = 'entered ' + e.target.value;
  });
  setTimeout(() => { document.getElementById('late').style.display = 'block'; }, 300);
</script>
</body></html>"#;

#[test]
fn browser_client_drives_headless_chromium() {
    let Some(b) = Browser::start() else { return };
    let url = data_url(PAGE);
    b.goto(&url);
    assert!(b.url().starts_with("data:text/html"), "{}", b.url());

    // Typing, clicking, and waiting for the page to react.
    let input = b.find("#name");
    input.send_keys("Ada");
    assert_eq!(input.attr("value").as_deref(), Some("Ada"));
    b.find("#greet").click();
    assert_eq!(b.wait_text("#out", "Hello, Ada!").text(), "Hello, Ada!");

    // The Actions API types into the focused element, special keys included.
    input.clear();
    input.click();
    b.keys(&format!("Bobx{}{}", keys::BACKSPACE, keys::ENTER));
    b.wait_text("#out", "entered Bob");

    // Selecting an option fires `change`.
    b.find("#pick").select("b");
    b.wait_text("#picked", "picked b");
    assert_eq!(b.find("#pick").attr("value").as_deref(), Some("b"));

    // Queries: absent, several, scoped; waiting for visibility.
    assert!(b.try_find("#missing").is_none());
    assert_eq!(b.find_all("option").len(), 2);
    assert_eq!(b.find("#pick").find_all("option")[1].text(), "B");
    assert_eq!(
        b.find("#pick").find("option").attr("value").as_deref(),
        Some("a")
    );
    assert_eq!(b.wait("#late").text(), "late");
    assert!(b.find("#late").is_displayed());
    assert_eq!(b.find("#pick").prop("length").as_deref(), Some("2"));
    assert_eq!(b.find("#pick").prop_json("disabled"), json!(false));
    assert_eq!(b.find("#pick").attr("disabled"), None);

    // Scripts, sync and async, with an element argument.
    let id = b.exec("return arguments[0].id", vec![b.find("#out").to_arg()]);
    assert_eq!(id, json!("out"));
    let v = b.exec_async(
        "const done = arguments[arguments.length - 1]; setTimeout(() => done(arguments[0] * 2), 50);",
        vec![json!(21)],
    );
    assert_eq!(v, json!(42));
    let mut polls = 0;
    b.wait_until("three polls", || {
        polls += 1;
        polls >= 3
    });

    // Window size and a screenshot: the decoded bytes are a whole PNG,
    // from its signature to its IEND chunk.
    b.set_window_size(800, 600);
    let width = b.exec("return window.innerWidth", vec![]);
    assert_eq!(width, json!(800), "window.innerWidth");
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    b.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND", "truncated PNG");

    // History.
    b.goto(&data_url("<p id=two>two</p>"));
    b.wait_text("#two", "two");
    b.back();
    b.wait("#name");
    assert_eq!(b.url(), url);
    b.refresh();
    assert_eq!(b.wait("#out").text(), "nobody yet");
}
