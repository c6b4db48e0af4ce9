//! A recording fake of [`crate::Runtime`] for the agent's unit tests.
