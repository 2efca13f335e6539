//! Where a server looks users up.

use std::collections::HashMap;
use std::fmt;

use super::{random_bytes, Mechanism, SaslError, ScramCredential, Secret, MIN_ITERATIONS};

/// Salt length for derived SCRAM credentials, in bytes.
pub(super) const SALT_LENGTH: usize = 16;
/// Iteration count for derived SCRAM credentials: Kafka's minimum.
pub(super) const DEFAULT_ITERATIONS: u32 = MIN_ITERATIONS;

/// A server's user database.
pub trait UserStore {
    /// The password of `user` for PLAIN, if the user exists.
    fn plain_password(&self, user: &str) -> Option<&Secret>;
    /// The SCRAM credential of `user` for `mechanism`, if the user exists.
    fn scram(&self, mechanism: Mechanism, user: &str) -> Option<ScramCredential>;
}

/// A fixed set of users and passwords.
///
/// SCRAM credentials are derived once, at construction, with a random salt per user and
/// mechanism and 4096 iterations; deriving them eagerly also means a first login does not
/// take longer for a known user than for an unknown one.
pub struct StaticUsers {
    passwords: HashMap<String, Secret>,
    scram: HashMap<(Mechanism, String), ScramCredential>,
}

impl StaticUsers {
    /// The store for `passwords` (user name → password).
    ///
    /// # Errors
    ///
    /// [`SaslError::Random`] if no salt can be drawn.
    pub fn new(passwords: HashMap<String, Secret>) -> Result<Self, SaslError> {
        let mut scram = HashMap::new();
        for (user, password) in &passwords {
            for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
                let salt = random_bytes::<SALT_LENGTH>()?;
                let credential = ScramCredential::from_password(mechanism, password, &salt, DEFAULT_ITERATIONS)?;
                scram.insert((mechanism, user.clone()), credential);
            }
        }
        Ok(StaticUsers { passwords, scram })
    }

    /// The store for `(user, password)` pairs.
    ///
    /// # Errors
    ///
    /// [`SaslError::Random`] if no salt can be drawn.
    pub fn from_pairs<U, P>(pairs: impl IntoIterator<Item = (U, P)>) -> Result<Self, SaslError>
    where
        U: Into<String>,
        P: Into<Secret>,
    {
        StaticUsers::new(pairs.into_iter().map(|(user, password)| (user.into(), password.into())).collect())
    }
}

impl UserStore for StaticUsers {
    fn plain_password(&self, user: &str) -> Option<&Secret> {
        self.passwords.get(user)
    }

    fn scram(&self, mechanism: Mechanism, user: &str) -> Option<ScramCredential> {
        self.scram.get(&(mechanism, user.to_owned())).cloned()
    }
}

impl fmt::Debug for StaticUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticUsers").field("users", &self.passwords.keys()).finish()
    }
}
