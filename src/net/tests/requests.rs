//! Requests on an open connection: pipelining, timeouts, cancellation, broken
//! connections and bad answers.

use super::*;

/// 100 requests in flight at once (the fake reads all of them before answering),
/// answered in reverse order: each caller still gets its own answer.
#[tokio::test]
async fn a_hundred_pipelined_requests_answered_in_reverse_reach_their_callers() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        let mut requests = Vec::new();
        for _ in 0..100 {
            requests.push(broker.expect_request().await);
        }
        let mut ids: Vec<i32> = requests.iter().map(|r| r.header.correlation_id).collect();
        ids.sort_unstable();
        let first = ids[0];
        assert_eq!(ids, (first..first + 100).collect::<Vec<_>>(), "distinct, increasing correlation ids");
        for request in requests.iter().rev() {
            echo(&mut broker, request).await;
        }
        // Then a batch answered in order, one at a time.
        for _ in 0..100 {
            echo_next(&mut broker).await;
        }
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    for round in 0..2 {
        let mut calls = JoinSet::new();
        for i in 0..100 {
            let connection = connection.clone();
            let generation = round * 1000 + i;
            calls.spawn(async move { (generation, ask(&connection, generation).await) });
        }
        while let Some(joined) = calls.join_next().await {
            let (generation, answer) = joined.unwrap();
            assert_eq!(answer.unwrap(), generation);
        }
    }
    assert_eq!(connection.waiting(), 0);
    drop(connection);
    finish(broker).await;
}

/// Under a paused clock: the request times out with no real wait, the connection
/// stays open, and the late answer is discarded without breaking the next request.
#[tokio::test]
async fn a_timed_out_request_leaves_the_connection_usable() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        let ignored = broker.expect_request().await;
        let next = broker.expect_request().await;
        echo(&mut broker, &ignored).await;
        echo(&mut broker, &next).await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    match connection.request(&heartbeat(1)).await {
        Err(ConnectionError::RequestTimeout { api: ApiKey::Heartbeat, timeout, .. }) => {
            assert_eq!(timeout, Duration::from_secs(30));
            assert!(started.elapsed() >= Duration::from_secs(30));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    tokio::time::resume();
    assert!(!connection.is_closed());
    assert_eq!(ask(&connection, 2).await.unwrap(), 2, "the late answer to 1 went nowhere");
    assert_eq!(ask(&connection, 3).await.unwrap(), 3);
    assert_eq!(connection.waiting(), 0, "the late answer removed its entry");
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_dropped_request_future_does_not_disturb_the_requests_after_it() {
    let (seen_tx, seen_rx) = oneshot::channel();
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        let dropped = broker.expect_request().await;
        seen_tx.send(()).unwrap();
        let next = broker.expect_request().await;
        assert_eq!(generation_of(&next), 2);
        echo(&mut broker, &dropped).await;
        echo(&mut broker, &next).await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    drop(connection.request(&heartbeat(0))); // never polled: nothing sent
    {
        let request = heartbeat(1);
        let in_flight = connection.request(&request);
        tokio::pin!(in_flight);
        tokio::select! {
            answer = &mut in_flight => panic!("no answer expected yet: {answer:?}"),
            seen = seen_rx => seen.unwrap(),
        }
    }
    assert_eq!(ask(&connection, 2).await.unwrap(), 2);
    assert_eq!(ask(&connection, 3).await.unwrap(), 3);
    assert!(!connection.is_closed());
    assert_eq!(connection.waiting(), 0);
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn an_oversized_frame_fails_the_waiter_and_closes_the_connection() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        broker.expect_request().await;
        broker.write_raw(&[0x7f, 0xff, 0xff, 0xff]).await;
        broker.drain().await; // the socket stays open: the error is the prefix's
    })
    .await;
    let connection = connect(&addr).await;
    match ask(&connection, 1).await {
        Err(ConnectionError::FrameTooLarge { size, max, .. }) => {
            assert_eq!((size, max), (i32::MAX as usize, DEFAULT_MAX_FRAME_SIZE));
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert!(connection.is_closed());
    assert!(matches!(ask(&connection, 2).await, Err(ConnectionError::Closed { .. })));
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_negative_frame_size_fails_the_waiter() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        broker.expect_request().await;
        broker.write_raw(&[0xff, 0xff, 0xff, 0xff]).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    assert!(matches!(ask(&connection, 1).await, Err(ConnectionError::NegativeFrameSize { size: -1, .. })));
    assert!(connection.is_closed());
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_broker_closing_mid_flight_fails_every_waiter_at_once() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        for _ in 0..5 {
            broker.expect_request().await;
        }
        // Half a response, then the socket closes.
        broker.write_raw(&[0, 0, 0, 20, 0, 0]).await;
    })
    .await;
    let connection = connect(&addr).await;
    let mut calls = JoinSet::new();
    for i in 0..5 {
        let connection = connection.clone();
        calls.spawn(async move { ask(&connection, i).await });
    }
    while let Some(joined) = calls.join_next().await {
        let error = joined.unwrap().unwrap_err();
        assert!(error.is_retriable());
        assert_eq!(error.io_kind(), Some(io::ErrorKind::UnexpectedEof), "{error}");
    }
    assert!(connection.is_closed());
    assert!(matches!(ask(&connection, 9).await, Err(ConnectionError::Closed { .. })));
    finish(broker).await;
}

#[tokio::test]
async fn close_fails_waiters_and_later_requests_with_closed() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    let clone = connection.clone();
    let waiting = tokio::spawn(async move { ask(&clone, 1).await });
    while connection.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    connection.close().await;
    assert!(matches!(waiting.await.unwrap(), Err(ConnectionError::Closed { .. })));
    assert!(connection.is_closed());
    assert!(matches!(ask(&connection, 2).await, Err(ConnectionError::Closed { .. })));
    let one_way = connection.send_without_response(&heartbeat(3), 4).await;
    assert!(matches!(one_way, Err(ConnectionError::Closed { .. })));
    finish(broker).await;
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_socket() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    let clone = connection.clone();
    drop(connection);
    assert_eq!(ask(&clone, 1).await.unwrap(), 1, "a clone keeps it open");
    drop(clone);
    finish(broker).await;
}

#[tokio::test]
async fn an_answer_nobody_asked_for_closes_the_connection() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        let request = broker.expect_request().await;
        let response = HeartbeatResponse::default();
        let frame = encode_response(
            &response,
            ApiKey::Heartbeat,
            request.header.api_version,
            request.header.correlation_id + 1000,
        )
        .unwrap();
        broker.write_raw(&frame).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    match ask(&connection, 1).await {
        Err(ConnectionError::CorrelationMismatch { expected: Some(expected), received, .. }) => {
            assert_eq!(received, expected + 1000);
        }
        other => panic!("expected a correlation mismatch, got {other:?}"),
    }
    assert!(connection.is_closed());
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn an_undecodable_answer_is_an_error_but_the_connection_carries_on() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        let request = broker.expect_request().await;
        let mut frame = 5_i32.to_be_bytes().to_vec();
        frame.extend(request.header.correlation_id.to_be_bytes());
        frame.push(0); // header tagged fields: none; then a 0-byte body
        broker.write_raw(&frame).await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    match ask(&connection, 1).await {
        Err(ConnectionError::Decode { api: ApiKey::Heartbeat, version: 4, .. }) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(ask(&connection, 2).await.unwrap(), 2);
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_one_way_request_waits_for_no_answer() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        let one_way = broker.expect_request().await;
        assert_eq!(generation_of(&one_way), 1);
        let request = echo_next(&mut broker).await;
        assert_eq!(request.header.correlation_id, one_way.header.correlation_id + 1);
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    connection.send_without_response(&heartbeat(1), 4).await.expect("written");
    assert_eq!(connection.waiting(), 0, "nothing waits for an answer");
    assert_eq!(ask(&connection, 2).await.unwrap(), 2);
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_request_that_does_not_fit_its_version_is_not_sent() {
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    let error = connection.request_at(&heartbeat(1), 99).await.unwrap_err();
    assert!(matches!(error, ConnectionError::Encode { api: ApiKey::Heartbeat, version: 99, .. }));
    assert!(!error.is_retriable());
    assert_eq!(ask(&connection, 2).await.unwrap(), 2);
    drop(connection);
    finish(broker).await;
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let error = BrokerConnection::connect(&addr, ConnectionConfig::default()).await.unwrap_err();
    assert!(matches!(&error, ConnectionError::Connect { addr: a, .. } if *a == addr), "{error:?}");
    assert_eq!(error.io_kind(), Some(io::ErrorKind::ConnectionRefused));
}

#[tokio::test]
async fn a_silent_broker_is_a_connect_timeout() {
    let (addr, broker) = fake_broker::start(|broker| async move { broker.drain().await }).await;
    let config = ConnectionConfig::default().connect_timeout(Duration::from_millis(200));
    match BrokerConnection::connect(&addr, config).await {
        Err(ConnectionError::ConnectTimeout { timeout, .. }) => assert_eq!(timeout, Duration::from_millis(200)),
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    finish(broker).await;
}

/// A writer that keeps what the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_is_traced_with_api_version_broker_id_and_duration() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let (addr, broker) = fake_broker::start(|mut broker| async move {
        broker.handshake().await;
        echo_next(&mut broker).await;
        broker.drain().await;
    })
    .await;
    let connection = connect(&addr).await;
    assert_eq!(ask(&connection, 1).await.unwrap(), 1);
    drop(connection);
    finish(broker).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log.lines().find(|line| line.contains("api=Heartbeat")).expect("a Heartbeat event");
    for field in ["kafka_request{", "version=4", &format!("broker={addr}"), "correlation_id=1", "elapsed_us="] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(log.contains("api=ApiVersions version=3"), "the handshake is traced too:\n{log}");
}

#[test]
fn the_handle_is_send_sync_and_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<BrokerConnection>();
    assert_send_sync_clone::<ConnectionError>();
}
