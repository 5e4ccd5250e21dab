//! Access tokens: HS256 JWTs with every SPEC §3 claim required and the algorithm pinned.
//! Refresh tokens are not JWTs but 256-bit random strings, stored only as their SHA-256.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::db::Id;

pub const ISSUER: &str = "tipline";
pub const AUDIENCE: &str = "tipline-api";
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
pub const REFRESH_TTL_DAYS: i64 = 14;
/// `typ` of a user's access token.
pub const TYP_ACCESS: &str = "access";
/// `typ` of the token of a staff member who must enrol a second factor first (SPEC §12.1): it
/// opens only `/me` and the three `/me/totp` routes.
pub const TYP_ENROLMENT: &str = "enrolment";
/// How long a device token keeps its own login throttle (SPEC §12.2).
pub const DEVICE_TTL_DAYS: i64 = 90;
/// `typ` of a token given for a receipt: `sub` is the report's id, `sid` names the receipt it
/// was exchanged for ([`receipt_session`]).
pub const TYP_RECEIPT: &str = "receipt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Id,
    pub role: String,
    pub sid: Id,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Id,
    pub typ: String,
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    pub fn new(secret: &Secret) -> Self {
        let key = crate::crypto::derive_key(secret.expose(), "jwt-hs256");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["sub", "iat", "nbf", "exp", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Tokens { encoding: EncodingKey::from_secret(&key), decoding: DecodingKey::from_secret(&key), validation }
    }

    /// Issues an access token for a session.
    pub fn issue(
        &self,
        user_id: Id,
        role: &str,
        session_id: Id,
        typ: &str,
        now: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user_id,
            role: role.to_string(),
            sid: session_id,
            iat: now,
            nbf: now,
            exp: now + ACCESS_TTL_SECS,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: Id::new(),
            typ: typ.to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Validates signature, algorithm, every claim and the token type.
    pub fn validate(&self, token: &str, typ: &str) -> Option<Claims> {
        self.decode(token).filter(|claims| claims.typ == typ)
    }

    /// Validates signature, algorithm and every claim, whatever the token type.
    pub fn decode(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|data| data.claims)
    }
}

/// A new refresh token and the hash stored for it.
pub fn new_refresh_token() -> (String, String) {
    let token =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, crate::crypto::random_bytes::<32>());
    let hash = refresh_token_hash(&token);
    (token, hash)
}

pub fn refresh_token_hash(token: &str) -> String {
    crate::crypto::sha256_hex(token.as_bytes())
}

/// The `sid` of the tokens exchanged for a receipt, derived from its stored hash: a token is
/// accepted only while its report still has that receipt, so replacing, revoking or withdrawing
/// (SPEC §13) ends the tokens of the old receipt at once. Nothing is stored per token.
pub fn receipt_session(receipt_hash: &str) -> Id {
    let digest = crate::crypto::sha256_hex(format!("receipt-token:{receipt_hash}").as_bytes());
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    Id(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The stored form of a receipt: an HMAC under the receipt key, so it can be looked up but
/// never recovered.
pub fn receipt_hash(receipt_key: &[u8], receipt: &str) -> String {
    crate::crypto::hmac_hex(receipt_key, receipt.as_bytes())
}

/// The stored login of a reporter (SPEC §14.1): a keyed hash of their login name (a generated
/// account name, or the email an older account signed up with), so the database holds nothing
/// the person is known by.
pub fn login_hash(login_key: &[u8], name: &str) -> String {
    format!("hmac:{}", crate::crypto::hmac_hex(login_key, name.as_bytes()))
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn tokens() -> Tokens {
        Tokens::new(&Secret::new(b"0123456789abcdef0123456789abcdef".to_vec()))
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn round_trip() {
        let t = tokens();
        let (user, sid) = (Id::new(), Id::new());
        let token = t.issue(user, "admin", sid, TYP_ACCESS, now()).unwrap();
        let claims = t.validate(&token, TYP_ACCESS).unwrap();
        assert_eq!((claims.sub, claims.sid, claims.role.as_str()), (user, sid, "admin"));
        assert!(t.validate(&token, "receipt").is_none());
    }

    #[test]
    fn rejects_expired_and_foreign_tokens() {
        let t = tokens();
        let old = t.issue(Id::new(), "admin", Id::new(), TYP_ACCESS, now() - 3600).unwrap();
        assert!(t.validate(&old, TYP_ACCESS).is_none());
        let other = Tokens::new(&Secret::new(b"another-secret-another-secret-xx".to_vec()));
        let forged = other.issue(Id::new(), "admin", Id::new(), TYP_ACCESS, now()).unwrap();
        assert!(t.validate(&forged, TYP_ACCESS).is_none());
    }

    #[test]
    fn rejects_alg_none() {
        let t = tokens();
        let token = t.issue(Id::new(), "admin", Id::new(), TYP_ACCESS, now()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(t.validate(&format!("{header}.{payload}."), TYP_ACCESS).is_none());
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
