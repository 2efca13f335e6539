//! The control language (the CLI's `--control-stdin`): one command per line.
//!
//! ```text
//! down NODE | up NODE | leader TOPIC PARTITION NODE | error API CODE [COUNT] [NODE]
//! latency API MS | drop-after-append COUNT | forget-producers | throttle API MS
//! create-topic NAME PARTITIONS | corrupt-fetch TOPIC PARTITION [COUNT]
//! hold-fetch TOPIC PARTITION [COUNT]
//! ```
//!
//! API by name (`Produce`, any case) or key number; CODE by Kafka name
//! (`NOT_LEADER_OR_FOLLOWER`, any case) or number; COUNT defaults to 1 (0 clears a
//! fetch fault).

use std::time::Duration;

use crate::protocol::api_key::ApiKey;
use crate::protocol::error_code::ErrorCode;

/// One parsed control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Down(i32),
    Up(i32),
    Leader { topic: String, partition: i32, node: i32 },
    Error { api: ApiKey, code: ErrorCode, count: u32, node: Option<i32> },
    Latency { api: ApiKey, latency: Duration },
    DropAfterAppend(u32),
    ForgetProducers,
    Throttle { api: ApiKey, throttle_ms: i32 },
    CreateTopic { name: String, partitions: i32 },
    CorruptFetch { topic: String, partition: i32, count: u32 },
    HoldFetch { topic: String, partition: i32, count: u32 },
}

/// Parses one line; the error says what is wrong.
pub(crate) fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let command = match words.as_slice() {
        ["down", node] => Command::Down(number(node, "NODE")?),
        ["up", node] => Command::Up(number(node, "NODE")?),
        ["leader", topic, partition, node] => Command::Leader {
            topic: (*topic).to_string(),
            partition: number(partition, "PARTITION")?,
            node: number(node, "NODE")?,
        },
        ["error", api, code, rest @ ..] if rest.len() <= 2 => Command::Error {
            api: parse_api(api)?,
            code: parse_code(code)?,
            count: rest.first().map(|c| number(c, "COUNT")).transpose()?.unwrap_or(1),
            node: rest.get(1).map(|n| number(n, "NODE")).transpose()?,
        },
        ["latency", api, ms] => {
            Command::Latency { api: parse_api(api)?, latency: Duration::from_millis(number(ms, "MS")?) }
        }
        ["drop-after-append", count] => Command::DropAfterAppend(number(count, "COUNT")?),
        ["forget-producers"] => Command::ForgetProducers,
        ["throttle", api, ms] => Command::Throttle { api: parse_api(api)?, throttle_ms: number(ms, "MS")? },
        ["create-topic", name, partitions] => {
            Command::CreateTopic { name: (*name).to_string(), partitions: number(partitions, "PARTITIONS")? }
        }
        ["corrupt-fetch", topic, partition, rest @ ..] if rest.len() <= 1 => {
            let (topic, partition, count) = partition_fault(topic, partition, rest)?;
            Command::CorruptFetch { topic, partition, count }
        }
        ["hold-fetch", topic, partition, rest @ ..] if rest.len() <= 1 => {
            let (topic, partition, count) = partition_fault(topic, partition, rest)?;
            Command::HoldFetch { topic, partition, count }
        }
        [] => return Err("empty command".into()),
        [verb, ..] => return Err(format!("unknown command or wrong arguments for {verb:?}")),
    };
    Ok(command)
}

/// TOPIC PARTITION [COUNT] of a per-partition fault; COUNT defaults to 1.
fn partition_fault(topic: &str, partition: &str, count: &[&str]) -> Result<(String, i32, u32), String> {
    let count = count.first().map(|c| number(c, "COUNT")).transpose()?.unwrap_or(1);
    Ok((topic.to_string(), number(partition, "PARTITION")?, count))
}

fn number<T: std::str::FromStr>(word: &str, what: &str) -> Result<T, String> {
    word.parse().map_err(|_| format!("{what} {word:?} is not a valid number"))
}

/// An API by name (any case) or key number.
pub(crate) fn parse_api(word: &str) -> Result<ApiKey, String> {
    let by_number = word.parse::<i16>().ok().and_then(ApiKey::from_i16);
    by_number
        .or_else(|| ApiKey::ALL.into_iter().find(|api| api.name().eq_ignore_ascii_case(word)))
        .ok_or_else(|| format!("unknown API {word:?}"))
}

/// An error code by Kafka name (any case) or number.
pub(crate) fn parse_code(word: &str) -> Result<ErrorCode, String> {
    if let Ok(code) = word.parse::<i16>() {
        return Ok(ErrorCode::from_i16(code));
    }
    (-1..=i16::from(u8::MAX))
        .map(ErrorCode::from_i16)
        .find(|code| !matches!(code, ErrorCode::Unknown(_)) && code.name().eq_ignore_ascii_case(word))
        .ok_or_else(|| format!("unknown error code {word:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses() {
        assert_eq!(parse("down 1"), Ok(Command::Down(1)));
        assert_eq!(parse("  up   2 "), Ok(Command::Up(2)));
        assert_eq!(parse("leader t 0 2"), Ok(Command::Leader { topic: "t".into(), partition: 0, node: 2 }));
        assert_eq!(
            parse("error produce not_leader_or_follower"),
            Ok(Command::Error { api: ApiKey::Produce, code: ErrorCode::NotLeaderOrFollower, count: 1, node: None })
        );
        assert_eq!(
            parse("error 1 6 3 2"),
            Ok(Command::Error { api: ApiKey::Fetch, code: ErrorCode::NotLeaderOrFollower, count: 3, node: Some(2) })
        );
        assert_eq!(
            parse("latency Fetch 250"),
            Ok(Command::Latency { api: ApiKey::Fetch, latency: Duration::from_millis(250) })
        );
        assert_eq!(parse("drop-after-append 2"), Ok(Command::DropAfterAppend(2)));
        assert_eq!(parse("forget-producers"), Ok(Command::ForgetProducers));
        assert_eq!(parse("throttle METADATA 100"), Ok(Command::Throttle { api: ApiKey::Metadata, throttle_ms: 100 }));
        assert_eq!(parse("create-topic orders 6"), Ok(Command::CreateTopic { name: "orders".into(), partitions: 6 }));
        assert_eq!(
            parse("corrupt-fetch orders 2"),
            Ok(Command::CorruptFetch { topic: "orders".into(), partition: 2, count: 1 })
        );
        assert_eq!(
            parse("corrupt-fetch orders 2 0"),
            Ok(Command::CorruptFetch { topic: "orders".into(), partition: 2, count: 0 })
        );
        assert_eq!(parse("hold-fetch t 0 5"), Ok(Command::HoldFetch { topic: "t".into(), partition: 0, count: 5 }));
    }

    #[test]
    fn bad_lines_say_why() {
        for line in [
            "",
            "dance",
            "down",
            "down x",
            "error Produce",
            "error Nope 6",
            "error Produce NOPE",
            "error Produce 6 1 2 3",
            "latency Fetch -1",
            "leader t x 1",
            "error 7 6",
            "corrupt-fetch t",
            "corrupt-fetch t x",
            "hold-fetch t 0 -1",
            "hold-fetch t 0 1 2",
        ] {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
        assert!(parse("error Produce NOPE").unwrap_err().contains("NOPE"));
    }

    #[test]
    fn codes_and_apis_by_name_or_number() {
        assert_eq!(parse_code("UNKNOWN_SERVER_ERROR"), Ok(ErrorCode::UnknownServerError));
        assert_eq!(parse_code("unsupported_version"), Ok(ErrorCode::UnsupportedVersion));
        assert_eq!(parse_code("120"), Ok(ErrorCode::TransactionAbortable));
        assert_eq!(parse_api("initproducerid"), Ok(ApiKey::InitProducerId));
        assert_eq!(parse_api("18"), Ok(ApiKey::ApiVersions));
    }
}
