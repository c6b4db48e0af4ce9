//! List continuation tokens: the revision a paged list is read at and the last key
//! returned, opaque to clients (base64 of JSON, as upstream).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Continue {
    #[serde(rename = "v")]
    pub version: String,
    pub rv: i64,
    pub start: String,
}

pub fn encode(rv: i64, last_key: &str) -> String {
    let c = Continue {
        version: "meta.k8s.io/v1".into(),
        rv,
        start: last_key.to_string(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&c).expect("serialisable"))
}

pub fn decode(token: &str) -> ApiResult<Continue> {
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let t = super::encode(42, "/registry/pods/default/a");
        let c = super::decode(&t).unwrap();
        assert_eq!((c.rv, c.start.as_str()), (42, "/registry/pods/default/a"));
        assert!(super::decode("!!!").is_err());
    }
}
