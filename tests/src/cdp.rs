//! Headless Chromium driven over the DevTools protocol, for tests of pages: a browser started
//! with `--remote-debugging-port`, and the small WebSocket client the protocol needs (text
//! frames only; written here because one test's needs do not warrant a WebSocket crate).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// A headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Browser {
    pub fn start() -> Result<Browser> {
        let profile = std::env::temp_dir().join(format!("guard-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--window-size=1400,900",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting chromium")?;
        let stderr = child.stderr.take().context("chromium stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| anyhow!("chromium printed no DevTools address within 30 s"))?
            .parse()
            .context("DevTools port")?;
        Ok(Browser {
            child,
            port,
            profile,
        })
    }

    /// The first page target.
    pub fn page(&self) -> Result<Page> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let list = http_get(self.port, "/json/list")?;
            let targets: Value = serde_json::from_str(&list).context("/json/list")?;
            let ws = targets.as_array().and_then(|t| {
                t.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_string)
            });
            if let Some(ws) = ws {
                return Page::connect(&ws);
            }
            if Instant::now() > deadline {
                bail!("no page target: {list}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn http_get(port: u16, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    // DevTools builds the targets' WebSocket URLs from this Host header.
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    // DevTools keeps the connection open: read the head, then Content-Length bytes.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("DevTools answered without Content-Length")?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(String::from_utf8(body)?)
}

/// One page's DevTools session.
pub struct Page {
    stream: TcpStream,
    next_id: u64,
}

impl Page {
    fn connect(ws_url: &str) -> Result<Page> {
        let rest = ws_url.strip_prefix("ws://").context("a ws:// URL")?;
        let (host, path) = rest.split_once('/').context("ws URL path")?;
        let mut stream = TcpStream::connect(host)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            bail!("WebSocket upgrade refused: {head}");
        }
        Ok(Page { stream, next_id: 1 })
    }

    fn send_text(&mut self, text: &str) -> Result<()> {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        // Clients must mask; the key need not be secret for a local test.
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame)?;
        Ok(())
    }

    fn read_message(&mut self) -> Result<String> {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h)?;
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b)?;
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b)?;
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; usize::try_from(len)?];
            self.stream.read_exact(&mut payload)?;
            match opcode {
                0 | 1 => message.extend_from_slice(&payload),
                8 => bail!("the browser closed the DevTools connection"),
                9 => {
                    // Ping: answer with a masked pong carrying the same payload.
                    let mut pong = vec![0x8a, 0x80 | payload.len().min(125) as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&payload[..payload.len().min(125)]);
                    self.stream.write_all(&pong)?;
                    continue;
                }
                _ => continue,
            }
            if fin {
                return Ok(String::from_utf8(message)?);
            }
        }
    }

    /// Calls a DevTools method and returns its result (events in between are dropped).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_text(&json!({"id": id, "method": method, "params": params}).to_string())?;
        loop {
            let msg: Value = serde_json::from_str(&self.read_message()?)?;
            if msg["id"] == id {
                if let Some(err) = msg.get("error") {
                    bail!("{method}: {err}");
                }
                return Ok(msg["result"].clone());
            }
        }
    }

    /// Evaluates a JavaScript expression (awaiting a promise) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Result<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expression}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Polls `expression` until it is truthy.
    pub fn wait_for(&mut self, expression: &str, within: Duration) -> Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let v = self.eval(expression)?;
            if !(v.is_null() || v == false || v == "") {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("{expression} stayed false for {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A real click (mouse pressed and released) at the middle of the element `id`.
    pub fn click(&mut self, id: &str) -> Result<()> {
        let rect = self.eval(&format!(
            "(() => {{ const r = document.getElementById({id:?}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ))?;
        let (x, y) = (
            rect[0].as_f64().unwrap_or(0.0),
            rect[1].as_f64().unwrap_or(0.0),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Focuses the element `id` and inserts `text` as a paste does.
    pub fn paste(&mut self, id: &str, text: &str) -> Result<()> {
        self.eval(&format!("document.getElementById({id:?}).focus()"))?;
        self.call("Input.insertText", json!({ "text": text }))?;
        Ok(())
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Result<Vec<u8>> {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        base64_decode(r["data"].as_str().unwrap_or(""))
    }
}

fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => bail!("not base64: {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// Where tests leave files for people to look at (`TEST_ARTIFACTS`, default
/// `target/test-artifacts`).
pub fn artifact_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::artifacts::workspace_root().join("target/test-artifacts"));
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(
            super::base64_decode("aGVsbG8gd29ybGQ=").unwrap(),
            b"hello world"
        );
    }
}
