//! The revisioned key-value store under the API server: keys are
//! `/registry/<resource>/<namespace>/<name>`, values are opaque bytes (JSON), and every
//! write gets a new, strictly increasing revision shared by the whole store, as in etcd.
//!
//! [`Store`] is the one interface; [`sqlite::SqliteStore`] is the embedded backend, and
//! [`conformance`] is the behaviour suite every backend must pass.

pub mod conformance;
mod error;
pub mod sqlite;

pub use error::{Error, Result};

use futures::stream::BoxStream;

/// A store revision; `0` means "none" / "latest" depending on context.
pub type Revision = i64;

/// One stored key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision at which the key was (last) created.
    pub create_revision: Revision,
    /// Revision of the write that produced this value (for a delete event: the delete).
    pub mod_revision: Revision,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Create,
    Update,
    Delete,
}

/// One change seen by a watch. For `Delete`, `kv.value` is the last value the key held
/// and `kv.mod_revision` is the revision of the delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
}

/// A page of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the list was read at (the store's current revision when
    /// `ListOptions::revision` is 0).
    pub revision: Revision,
    /// How many keys under the prefix come after the last returned item.
    pub remaining: i64,
}

/// How to list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Every key starting with this string.
    pub prefix: String,
    /// Read at this revision (0 = latest). A compacted revision is `Error::Compacted`.
    pub revision: Revision,
    /// At most this many items (0 = no limit).
    pub limit: usize,
    /// Only keys strictly greater than this one (for continue tokens).
    pub start_after: Option<String>,
}

/// A stream of watch events in revision order. It ends (`None`) when the store closes
/// the watch, e.g. because the watcher fell too far behind; the caller then re-lists.
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// The revisioned key-value store.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest value of `key`, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys under a prefix in key order, at a revision, a page at a time.
    async fn list(&self, opts: ListOptions) -> Result<ListResult>;

    /// Creates `key`; `Error::AlreadyExists` if it exists. Returns the stored value.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Replaces `key` only if its current `mod_revision` equals `expected`
    /// (`Error::Conflict` otherwise, `Error::NotFound` if it is gone).
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue>;

    /// Deletes `key`, only if its current `mod_revision` equals `expected` when given.
    /// Returns the deleted value with `mod_revision` set to the delete's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Every event under `prefix` with a revision greater than `after`, then live events.
    /// `Error::Compacted` if events after `after` were compacted away.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Forgets history at and before `revision` (latest values are kept).
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The highest compacted revision (0 if never compacted).
    async fn compacted_revision(&self) -> Result<Revision>;
}
