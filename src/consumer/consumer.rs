//! The [`Consumer`] actor: the public front. (Contract stub; the fetch helper fills it.)

use std::sync::Arc;

use actix::{Actor, Context};

use super::config::{ConsumerBuilder, ConsumerConfig};

/// The consumer actor. See the [module docs](super).
#[derive(Debug)]
pub struct Consumer {
    config: Arc<ConsumerConfig>,
}

impl Consumer {
    /// A builder with every setting at its documented default.
    pub fn builder() -> ConsumerBuilder {
        ConsumerBuilder::default()
    }

    pub(crate) fn new(config: ConsumerConfig) -> Self {
        Self { config: Arc::new(config) }
    }

    /// The validated configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }
}

impl Actor for Consumer {
    type Context = Context<Self>;
}
