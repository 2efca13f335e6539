//! The embedded broker (in-process, 3 nodes) against the Python clients Debian
//! ships: kafka-python and confluent-kafka each produce records and consume them back
//! in a consumer group (`tests/peers/*_roundtrip.py`).

mod broker_support;
mod support;

use broker_support::{assert_exactly_once, blocking, generate, python_roundtrip, start_cluster};

const RECORDS: usize = 2_000;

async fn roundtrip(script: &'static str, prefix: &str) {
    let cluster = start_cluster(3, &[(prefix, 6)]).await;
    let records = generate(prefix, RECORDS);
    let (bootstrap, topic, sent) = (cluster.bootstrap(), prefix.to_string(), records.clone());
    let group = format!("{prefix}-group");
    let got = blocking(move || python_roundtrip(script, &bootstrap, &topic, &group, &sent)).await;
    if let Some(got) = got {
        assert_exactly_once(script, &records, &got);
    }
    cluster.shutdown().await.expect("shutdown");
}

#[actix_rt::test]
async fn kafka_python_produces_and_consumes_in_a_group() {
    roundtrip("kafka_python_roundtrip.py", "kafka-python").await;
}

#[actix_rt::test]
async fn confluent_kafka_produces_and_consumes_in_a_group() {
    roundtrip("confluent_kafka_roundtrip.py", "confluent-kafka").await;
}
