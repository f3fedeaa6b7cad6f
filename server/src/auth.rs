//! Users and password authentication. Passwords are kept only as SCRAM-SHA-256 secrets in
//! PostgreSQL's format (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as
//! `granary-server --hash-password` prints them), from which a password cannot be recovered nor a
//! client impersonated; clients prove they know the password with the SCRAM-SHA-256 exchange
//! (RFC 5802/7677) that PostgreSQL clients speak.
//!
//! Without users in the configuration there is one, `default`, without a password (as in
//! ClickHouse), listening on loopback only by default.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// PostgreSQL's default iteration count.
const ITERATIONS: u32 = 4096;

/// A user as the configuration file writes one (`[users.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// The SCRAM-SHA-256 secret of the password; none: no password is asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_scram_sha256: Option<String>,
    /// Reads only: writes get 25006 (ClickHouse's READONLY).
    pub readonly: bool,
}

/// A user the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub secret: Option<ScramSecret>,
    pub readonly: bool,
}

/// The users of a configuration.
#[derive(Debug, Clone)]
pub struct Users {
    users: BTreeMap<String, User>,
    /// Makes the stand-in salts of unknown users (stable per name for this server's life).
    mock_nonce: [u8; 32],
    /// Failed logins by address, over every front end.
    pub throttle: std::sync::Arc<LoginThrottle>,
}

impl Users {
    /// The configured users; `default` without a password when none is configured.
    pub fn from_config(config: &BTreeMap<String, UserConfig>) -> Result<Users> {
        let mut users = BTreeMap::new();
        for (name, user) in config {
            let secret = match &user.password_scram_sha256 {
                Some(text) => Some(ScramSecret::parse(text).map_err(|message| Error::Config {
                    message: format!("users.{name}.password_scram_sha256: {message}"),
                })?),
                None => None,
            };
            users.insert(
                name.clone(),
                User {
                    name: name.clone(),
                    secret,
                    readonly: user.readonly,
                },
            );
        }
        if users.is_empty() {
            users.insert(
                "default".to_string(),
                User {
                    name: "default".to_string(),
                    secret: None,
                    readonly: false,
                },
            );
        }
        Ok(Users {
            users,
            mock_nonce: random_bytes::<32>(),
            throttle: std::sync::Arc::default(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// A stand-in for a user who does not exist, with a secret no password matches and a salt
    /// that stays the same for the name: a login as them goes through the whole SCRAM exchange
    /// and fails exactly as a wrong password does, so a client cannot tell which names exist
    /// (PostgreSQL's mock authentication).
    pub fn stand_in(&self, name: &str) -> User {
        let mut digest = Sha256::new();
        digest.update(self.mock_nonce);
        digest.update(name.as_bytes());
        let salt = digest.finalize();
        let password = BASE64.encode(random_bytes::<32>());
        User {
            name: name.to_string(),
            secret: Some(ScramSecret::with_salt(&password, &salt[..16], ITERATIONS)),
            readonly: true,
        }
    }

    /// Every user, by name.
    pub fn all(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        unreachable!("HMAC accepts keys of every length");
    });
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `Hi()` of RFC 5802: PBKDF2 with HMAC-SHA-256, one block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut block = hmac(password, &first);
    let mut result = block;
    for _ in 1..iterations {
        block = hmac(password, &block);
        for (r, b) in result.iter_mut().zip(block) {
            *r ^= b;
        }
    }
    result
}

/// Equality that takes the same time wherever the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed logins by client address: past a few, each answer is delayed, doubling up to
/// [`LoginThrottle::MAX_DELAY`], so that guessing passwords is slow; a success clears the address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (u32, std::time::Instant)>>,
}

impl LoginThrottle {
    /// Failures answered at once.
    pub const FREE_FAILURES: u32 = 3;
    /// The longest delay.
    pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
    /// Addresses remembered at most (the oldest are forgotten first).
    const ADDRESSES_MAX: usize = 10_000;
    /// A failure older than this no longer counts.
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

    /// Records a failed login from `address` and returns how long to wait before answering it.
    pub fn failed(&self, address: std::net::IpAddr) -> std::time::Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return Self::MAX_DELAY;
        };
        let now = std::time::Instant::now();
        if failures.len() >= Self::ADDRESSES_MAX {
            failures.retain(|_, (_, last)| now.duration_since(*last) < Self::WINDOW);
            if failures.len() >= Self::ADDRESSES_MAX
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(address, _)| *address)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(address).or_insert((0, now));
        if now.duration_since(entry.1) >= Self::WINDOW {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        Self::delay(entry.0)
    }

    /// Forgets the failures of `address` (it logged in).
    pub fn succeeded(&self, address: std::net::IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&address);
        }
    }

    /// The delay after the `failures`-th failure in a row.
    pub fn delay(failures: u32) -> std::time::Duration {
        if failures <= Self::FREE_FAILURES {
            return std::time::Duration::ZERO;
        }
        let doublings = (failures - Self::FREE_FAILURES - 1).min(10);
        (std::time::Duration::from_millis(100) * 2u32.pow(doublings)).min(Self::MAX_DELAY)
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The operating system's generator; without one nothing secure can be made.
    if getrandom::fill(&mut bytes).is_err() {
        panic!("the operating system's random number generator is unavailable");
    }
    bytes
}

/// A password's SCRAM-SHA-256 secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl std::fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramSecret(..)")
    }
}

impl ScramSecret {
    /// The secret of `password` with a fresh random salt.
    pub fn new(password: &str) -> ScramSecret {
        ScramSecret::with_salt(password, &random_bytes::<16>(), ITERATIONS)
    }

    fn with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramSecret {
        // SASLprep as PostgreSQL applies it: a password it rejects is used as it is.
        let prepared = stringprep::saslprep(password)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| password.to_string());
        let salted = salted_password(prepared.as_bytes(), salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        ScramSecret {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// True when `password` is the one this secret was made from (a login that sends the
    /// password itself, as ClickHouse's native protocol does).
    pub fn verify(&self, password: &str) -> bool {
        let candidate = ScramSecret::with_salt(password, &self.salt, self.iterations);
        same(&candidate.stored_key, &self.stored_key)
    }

    /// Reads PostgreSQL's text form.
    pub fn parse(text: &str) -> std::result::Result<ScramSecret, String> {
        let malformed = || {
            "not a SCRAM-SHA-256 secret (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>; \
             granary-server --hash-password makes one)"
                .to_string()
        };
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or_else(malformed)?;
        let (head, keys) = rest.split_once('$').ok_or_else(malformed)?;
        let (iterations, salt) = head.split_once(':').ok_or_else(malformed)?;
        let (stored, server) = keys.split_once(':').ok_or_else(malformed)?;
        let key = |text: &str| -> std::result::Result<[u8; 32], String> {
            BASE64
                .decode(text)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(malformed)
        };
        Ok(ScramSecret {
            iterations: iterations
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(malformed)?,
            salt: BASE64.decode(salt).map_err(|_| malformed())?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

impl std::fmt::Display for ScramSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }
}

/// Why an exchange failed: a malformed message (08P01) or a wrong password (28P01).
#[derive(Debug, PartialEq, Eq)]
pub enum ScramError {
    Protocol(String),
    WrongPassword,
}

/// The server's side of one SCRAM-SHA-256 exchange, between its first and last message.
#[derive(Debug)]
pub struct ScramExchange {
    secret: ScramSecret,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramExchange {
    /// Reads the client-first-message; the server-first-message to answer with.
    pub fn start(
        secret: &ScramSecret,
        client_first: &[u8],
    ) -> std::result::Result<(ScramExchange, String), ScramError> {
        let protocol = |message: &str| ScramError::Protocol(message.to_string());
        let text = std::str::from_utf8(client_first)
            .map_err(|_| protocol("SCRAM message is not UTF-8"))?;
        let bare = if let Some(rest) = text.strip_prefix("n,").or_else(|| text.strip_prefix("y,")) {
            // gs2-header: no channel binding; an authzid, if any, is ignored as PostgreSQL does.
            rest.split_once(',')
                .map(|(_, bare)| bare)
                .ok_or_else(|| protocol("malformed SCRAM message"))?
        } else if text.starts_with("p=") {
            return Err(protocol("channel binding is not supported (no TLS)"));
        } else {
            return Err(protocol("malformed SCRAM message"));
        };
        let client_nonce = attribute(bare, 'r').ok_or_else(|| protocol("SCRAM nonce missing"))?;
        let nonce = format!("{client_nonce}{}", BASE64.encode(random_bytes::<18>()));
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&secret.salt),
            secret.iterations
        );
        Ok((
            ScramExchange {
                secret: secret.clone(),
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                nonce,
            },
            server_first,
        ))
    }

    /// Checks the client-final-message's proof; the server-final-message (the server's own
    /// signature, which the client checks in turn).
    pub fn finish(self, client_final: &[u8]) -> std::result::Result<String, ScramError> {
        let protocol = |message: &str| ScramError::Protocol(message.to_string());
        let text = std::str::from_utf8(client_final)
            .map_err(|_| protocol("SCRAM message is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| protocol("SCRAM proof missing"))?;
        if attribute(without_proof, 'r') != Some(self.nonce.as_str()) {
            return Err(protocol("SCRAM nonce does not match"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| protocol("malformed SCRAM proof"))?;
        if proof.len() != 32 {
            return Err(protocol("malformed SCRAM proof"));
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = hmac(&self.secret.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if !same(&sha256(&client_key), &self.secret.stored_key) {
            return Err(ScramError::WrongPassword);
        }
        let server_signature = hmac(&self.secret.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// The value of attribute `name` (`r=...`) in a comma-separated SCRAM message.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_logins_from_one_address_slow_down_and_a_success_clears_them() {
        let throttle = LoginThrottle::default();
        let address: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let other: std::net::IpAddr = "10.1.2.4".parse().unwrap();
        let delays: Vec<u128> = (0..8)
            .map(|_| throttle.failed(address).as_millis())
            .collect();
        assert_eq!(delays, [0, 0, 0, 100, 200, 400, 800, 1600]);
        assert_eq!(throttle.failed(other).as_millis(), 0, "per address");
        throttle.succeeded(address);
        assert_eq!(throttle.failed(address).as_millis(), 0);
        assert_eq!(LoginThrottle::delay(40), LoginThrottle::MAX_DELAY);
    }

    #[test]
    fn an_unknown_users_stand_in_has_a_stable_salt_and_no_password() {
        let users = Users::from_config(&BTreeMap::new()).unwrap();
        let first = users.stand_in("mallory").secret.unwrap();
        let again = users.stand_in("mallory").secret.unwrap();
        assert_eq!(first.salt, again.salt);
        assert_eq!(first.iterations, ITERATIONS);
        assert_ne!(first.salt, users.stand_in("trudy").secret.unwrap().salt);
        assert!(!first.verify("") && !first.verify("mallory"));
    }

    /// The client's side of the exchange, as RFC 5802 describes it.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let salt = BASE64
            .decode(attribute(server_first, 's').unwrap())
            .unwrap();
        let iterations: u32 = attribute(server_first, 'i').unwrap().parse().unwrap();
        let salted = salted_password(password.as_bytes(), &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={}", attribute(server_first, 'r').unwrap());
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(&sha256(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    #[test]
    fn the_right_password_passes_and_a_wrong_one_does_not() {
        let secret = ScramSecret::new("pencil");
        let parsed = ScramSecret::parse(&secret.to_string()).unwrap();
        assert_eq!(parsed, secret);
        for (password, accepted) in [("pencil", true), ("pencil ", false), ("", false)] {
            let (exchange, server_first) =
                ScramExchange::start(&parsed, b"n,,n=,r=rOprNGfwEbeRWgbNEkqO").unwrap();
            assert!(server_first.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
            let last = client_final(password, "n=,r=rOprNGfwEbeRWgbNEkqO", &server_first);
            let outcome = exchange.finish(last.as_bytes());
            assert_eq!(outcome.is_ok(), accepted, "{password:?}");
            if !accepted {
                assert_eq!(outcome.unwrap_err(), ScramError::WrongPassword);
            }
        }
    }

    #[test]
    fn postgresql_secrets_are_read_as_postgresql_writes_them() {
        // RFC 7677's example: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==.
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let secret = ScramSecret::with_salt("pencil", &salt, 4096);
        let (exchange, _) = ScramExchange {
            secret: secret.clone(),
            client_first_bare: String::new(),
            server_first: String::new(),
            nonce: String::new(),
        }
        .into_rfc_example();
        let final_message = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            exchange.finish(final_message.as_bytes()).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(ScramSecret::parse("md5abc").is_err());
    }

    impl ScramExchange {
        fn into_rfc_example(self) -> (ScramExchange, String) {
            let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".to_string();
            let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .to_string();
            (
                ScramExchange {
                    secret: self.secret,
                    client_first_bare,
                    server_first: server_first.clone(),
                    nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_string(),
                },
                server_first,
            )
        }
    }
}
