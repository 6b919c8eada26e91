//! Test helpers shared by the integration tests: a DynamoDB-compatible server (moto), a real
//! HTTP job server that records what it receives, and a fault-injecting proxy to put between
//! an AWS SDK client and moto.
//!
//! Not every test module uses every helper.
#![allow(dead_code)]

pub mod faultproxy;
pub mod jobserver;
pub mod moto;
pub mod python;
pub mod tempdb;
