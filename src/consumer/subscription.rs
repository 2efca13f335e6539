//! A subscription's topics, resolved against the cluster: names as given, or every
//! topic whose whole name matches a pattern.
//!
//! Names are asked for through the `Cluster` actor's metadata cache. A pattern needs
//! every topic's name, which the cache does not hold (it only knows the topics some
//! caller asked for), so the resolver sends a MetadataRequest for all topics on any
//! broker connection; internal topics (`__consumer_offsets`...) never match, as in the
//! Java client. The consumer resolves again at every metadata refresh interval and
//! starts consumers for topics and partitions that appeared.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::client::{ClientError, ClusterMetadata, GetAnyConnection, GetMetadata};
use crate::protocol::messages::MetadataRequest;
use crate::protocol::ApiKey;

use super::error::ConsumeError;
use super::messages::Topics;
use super::shared::Shared;
use super::types::TopicPartition;

/// What a subscription follows, with the pattern anchored to whole names.
#[derive(Debug, Clone)]
pub(crate) enum Subscription {
    Names(BTreeSet<String>),
    Pattern(regex::Regex),
}

impl Subscription {
    /// From the user's [`Topics`].
    ///
    /// # Errors
    ///
    /// [`ConsumeError::InvalidState`] for an empty list of names.
    pub(crate) fn new(topics: &Topics) -> Result<Self, ConsumeError> {
        match topics {
            Topics::Names(names) if names.is_empty() => Err(ConsumeError::InvalidState("subscribe to no topic")),
            Topics::Names(names) => Ok(Subscription::Names(names.iter().cloned().collect())),
            Topics::Pattern(regex) => {
                // The user's pattern compiled, so it compiles inside a group too.
                let anchored = regex::Regex::new(&format!("^(?:{})$", regex.as_str()))
                    .map_err(|_| ConsumeError::InvalidState("the pattern cannot be anchored"))?;
                Ok(Subscription::Pattern(anchored))
            }
        }
    }

    /// Which of `names` this subscription takes.
    pub(crate) fn matching<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        match self {
            Subscription::Names(wanted) => names.into_iter().filter(|n| wanted.contains(*n)).map(Into::into).collect(),
            Subscription::Pattern(regex) => names.into_iter().filter(|n| regex.is_match(n)).map(Into::into).collect(),
        }
    }
}

/// Every partition of `topics` that the metadata knows, in order.
pub(crate) fn partitions_of(metadata: &ClusterMetadata, topics: &BTreeSet<String>) -> BTreeSet<TopicPartition> {
    let mut partitions = BTreeSet::new();
    for name in topics {
        let Some(topic) = metadata.topics.get(name).filter(|t| t.error.is_ok()) else { continue };
        let arc: Arc<str> = Arc::from(name.as_str());
        partitions.extend(topic.partitions.iter().map(|p| TopicPartition { topic: arc.clone(), partition: p.id }));
    }
    partitions
}

/// The topics `subscription` follows now, and the metadata of their partitions.
pub(crate) async fn resolve(
    shared: &Shared,
    subscription: &Subscription,
) -> Result<(BTreeSet<String>, Arc<ClusterMetadata>), ConsumeError> {
    let topics = match subscription {
        Subscription::Names(names) => names.clone(),
        Subscription::Pattern(_) => subscription.matching(all_topics(shared).await?.iter().map(String::as_str)),
    };
    let request = GetMetadata { topics: topics.iter().cloned().collect(), refresh: false };
    let metadata = shared.cluster.send(request).await.map_err(ClientError::from)??;
    let known = topics.into_iter().filter(|t| metadata.knows(t)).collect();
    Ok((known, metadata))
}

/// The names of every non-internal topic in the cluster.
async fn all_topics(shared: &Shared) -> Result<Vec<String>, ConsumeError> {
    let connection = shared.cluster.send(GetAnyConnection).await.map_err(ClientError::from)??;
    let version = connection.version_for(ApiKey::Metadata)?;
    let mut request =
        MetadataRequest { topics: if version == 0 { Some(Vec::new()) } else { None }, ..Default::default() };
    if version >= 4 {
        request.allow_auto_topic_creation = false;
    }
    let response = connection.request_at(&request, version).await?;
    Ok(response.topics.into_iter().filter(|t| !t.is_internal).filter_map(|t| t.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names_only() {
        let subscription = Subscription::new(&Topics::Pattern(regex::Regex::new("orders-.*|pay").unwrap())).unwrap();
        let names = ["orders-eu", "orders-us", "payments", "pay", "old-orders-eu"];
        let matched: Vec<String> = subscription.matching(names).into_iter().collect();
        assert_eq!(matched, ["orders-eu", "orders-us", "pay"]);
    }

    #[test]
    fn names_match_themselves_and_an_empty_list_is_refused() {
        let subscription = Subscription::new(&Topics::Names(vec!["a".into(), "b".into()])).unwrap();
        assert_eq!(subscription.matching(["a", "c"]).into_iter().collect::<Vec<_>>(), ["a"]);
        assert!(Subscription::new(&Topics::Names(Vec::new())).is_err());
    }
}
