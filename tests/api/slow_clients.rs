//! Clients that misbehave at the HTTP level, spoken to over raw TCP: slow heads and bodies, idle
//! keep-alive connections, more connections than the server takes, requests hyper cannot parse,
//! and request ids that must not be echoed. The server's timeouts are shortened with its flags.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::common::{API_KEY, Launch, Server};

/// How long a test waits for the server to close a connection or answer, past the timeout it set.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

async fn launch(flags: &[&str]) -> Server {
    Server::launch(Launch { args: flags.iter().map(|f| (*f).to_owned()).collect(), ..Launch::default() }).await
}

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection (end of stream or reset); everything it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(CLOSE_WITHIN, async {
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open; it sent {:?}", String::from_utf8_lossy(&received));
    received
}

/// A response read off the wire.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn parse(bytes: &[u8]) -> RawResponse {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no response head in {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        RawResponse { status, headers, body: body.to_owned() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The seed's error: this status, `{"message": message}` as JSON, and a request id.
    fn assert_json_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
        assert_eq!(self.json(), json!({ "message": message }));
        assert!(self.header("x-request-id").is_some_and(is_uuid), "{self:?}");
    }
}

/// Reads one response on a connection that stays open (its body is `content-length` long).
async fn read_one_response(stream: &mut TcpStream) -> RawResponse {
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    tokio::time::timeout(CLOSE_WITHIN, async {
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed before a whole response: {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&buffer[..n]);
            let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = RawResponse::parse(&received[..end + 4]);
            let length: usize = head.header("content-length").unwrap().parse().unwrap();
            if received.len() >= end + 4 + length {
                return RawResponse::parse(&received);
            }
        }
    })
    .await
    .expect("no whole response in time")
}

/// Sends `request` on a fresh connection and reads the answer until the server closes.
async fn exchange(server: &Server, request: &[u8]) -> RawResponse {
    let mut stream = connect(server).await;
    stream.write_all(request).await.unwrap();
    RawResponse::parse(&read_until_closed(&mut stream).await)
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|id| id.hyphenated().to_string() == text)
}

/// The server's log so far, without its colours.
fn server_log(server: &Server) -> String {
    let log = std::fs::read_to_string(server.data_dir().join("server.log")).unwrap();
    regex_lite::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(&log, "").into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_sending_half_a_request_head_is_closed_after_the_header_read_timeout() {
    // Given a server that gives clients 1 s to send a request head
    let server = launch(&["--header-read-timeout", "1"]).await;

    // When a client sends half of one and stops
    let mut stream = connect(&server).await;
    stream.write_all(b"GET /orders HTTP/1.1\r\nhost: localhost\r\nx-api-key: ").await.unwrap();
    let sent = Instant::now();

    // Then the server closes the connection after about 1 s, without an answer
    let received = read_until_closed(&mut stream).await;
    let waited = sent.elapsed();
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    assert!(waited >= Duration::from_millis(900), "closed after {waited:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_sending_half_a_body_gets_408_in_json_and_is_closed() {
    // Given a server that gives clients 1 s to send a request body
    let server = launch(&["--body-read-timeout", "1"]).await;

    // When a client announces a 100-byte order but sends 10 bytes of it and stops
    let mut stream = connect(&server).await;
    let head = format!(
        "POST /orders HTTP/1.1\r\nhost: localhost\r\nx-api-key: {API_KEY}\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"custome"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();

    // Then after about 1 s it gets the seed's JSON error with 408, and the connection is closed
    let response = RawResponse::parse(&read_until_closed(&mut stream).await);
    assert!(sent.elapsed() >= Duration::from_millis(900), "answered after {:?}", sent.elapsed());
    response.assert_json_error(408, "Request body was not received in time");
    assert_eq!(response.header("connection"), Some("close"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // Given a server that keeps idle connections 1 s (and would wait 30 s for a request head)
    let server = launch(&["--idle-timeout", "1", "--header-read-timeout", "30"]).await;

    // When a client makes a request on a keep-alive connection, reads the answer and says nothing more
    let mut stream = connect(&server).await;
    let request = format!("GET /orders?limit=1 HTTP/1.1\r\nhost: localhost\r\nx-api-key: {API_KEY}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = read_one_response(&mut stream).await;
    assert_eq!(response.status, 200, "{response:?}");
    let answered = Instant::now();

    // Then the server closes the connection after about 1 s
    let received = read_until_closed(&mut stream).await;
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    assert!(answered.elapsed() >= Duration::from_millis(900), "closed after {:?}", answered.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_get_503_in_json_and_the_server_recovers() {
    // Given a server that serves 20 connections at once and gives request heads 2 s
    let server = launch(&["--max-connections", "20", "--header-read-timeout", "2"]).await;

    // When 20 slow clients each hold a connection with half a request head
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect(&server).await;
        stream.write_all(b"GET /orders HTTP/1.1\r\nhost: loc").await.unwrap();
        slow.push(stream);
    }
    // And 5 more clients connect
    let mut extra = Vec::new();
    for _ in 0..5 {
        extra.push(connect(&server).await);
    }

    // Then each of the 5 is told the server is busy, in JSON, with Retry-After, and is closed
    for mut stream in extra {
        let response = RawResponse::parse(&read_until_closed(&mut stream).await);
        response.assert_json_error(503, "Server is busy");
        assert_eq!(response.header("retry-after"), Some("1"));
    }
    // And the log says it is shedding load, with the number of connections open
    let log = server_log(&server);
    let shedding = log.lines().find(|line| line.contains("shedding load")).unwrap_or_else(|| panic!("{log}"));
    assert!(shedding.contains("open_connections=20"), "{shedding}");

    // When the slow clients' time is up
    for mut stream in slow {
        read_until_closed(&mut stream).await;
    }

    // Then a real request is served again
    let (status, body) = server.get_json("/orders?limit=1").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_hyper_cannot_parse_get_json_errors() {
    // Given a server
    let server = Server::start().await;

    // When a request line is not HTTP, Then 400 in JSON
    exchange(&server, b"this is not http\r\n\r\n").await.assert_json_error(400, "Request is not valid HTTP");

    // When a URI is 70 KB long, Then 414 in JSON
    let request = format!("GET /orders?customer_id={} HTTP/1.1\r\nhost: localhost\r\n\r\n", "a".repeat(70 * 1024));
    exchange(&server, request.as_bytes()).await.assert_json_error(414, "URI too long");

    // When a request has more headers than the server reads (100), Then 431 in JSON
    let headers: String = (0..101).map(|i| format!("x-filler-{i}: {i}\r\n")).collect();
    let request = format!("GET /orders HTTP/1.1\r\nhost: localhost\r\n{headers}\r\n");
    exchange(&server, request.as_bytes()).await.assert_json_error(431, "Request headers too large");

    // And each refusal is logged with the request id it was answered with
    let log = server_log(&server);
    assert_eq!(log.matches("refused a request that is not valid HTTP").count(), 3, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_request_ids_are_replaced_by_a_fresh_one_in_the_response_and_the_log() {
    // Given a server
    let server = Server::start().await;
    let request_with_id = |id: &[u8]| {
        let mut request =
            b"GET /orders?limit=1 HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nx-api-key: ".to_vec();
        request.extend_from_slice(API_KEY.as_bytes());
        request.extend_from_slice(b"\r\nx-request-id: ");
        request.extend_from_slice(id);
        request.extend_from_slice(b"\r\n\r\n");
        request
    };

    // When clients send request ids with non-ASCII bytes, 60 KB long, with a control character (a tab:
    // the only one HTTP lets through), with a space
    let long = "x".repeat(60 * 1024);
    for sent in [&b"caf\xc3\xa9-\xff"[..], long.as_bytes(), b"abc\tdef", b"abc def"] {
        let response = exchange(&server, &request_with_id(sent)).await;

        // Then each gets its answer with a fresh UUID as request id, and the log carries that id
        assert_eq!(response.status, 200, "{response:?}");
        let id = response.header("x-request-id").unwrap();
        assert!(is_uuid(id), "{sent:?} came back as {id:?}");
        assert!(server_log(&server).contains(&format!("request_id=\"{id}\"")), "{id} is not in the log");
    }

    // When a client sends a short plain id, Then it is echoed and logged as sent
    let response = exchange(&server, &request_with_id(b"client-7f3a.retry:2")).await;
    assert_eq!(response.header("x-request-id"), Some("client-7f3a.retry:2"));
    assert!(server_log(&server).contains("request_id=\"client-7f3a.retry:2\""));
    // And the long id never reached the log
    assert!(!server_log(&server).contains(&long[..1024]));
}
