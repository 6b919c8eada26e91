//! TransactWriteItems, and what its cancellation means. DynamoDB cancels a transaction with
//! one `TransactionCanceledException` whatever the cause, and gives a reason per item
//! (`CancellationReasons`, in the order of the items): only `ConditionalCheckFailed` is a lost
//! race. The others say nothing about the conditions:
//!
//! - `ThrottlingError`, `ProvisionedThroughputExceeded`: over capacity. A
//!   [`StoreError::Throttled`], as throttling of the whole request is (after the SDK's own
//!   retries): the caller fails the tick, and the platform runs it again.
//! - `TransactionConflict`: another transaction or write on one of the items was in flight.
//!   Sent again, a few times with a growing, jittered delay ([`CONFLICT_ATTEMPTS`]): once the
//!   other write is done, the conditions are evaluated against what it left, and a racing
//!   claim then wins or is refused (`ConditionalCheckFailed`) as usual. Reporting the first
//!   conflict as a store error would fail a tick over an ordinary race between ticks (ticks
//!   racing on a slot may conflict); taking it for a lost race, as before issue 13, made the
//!   claim give up on a slot whose other write may have been cancelled, or retry at once from
//!   a fresh read. A conflict that outlasts the attempts is a [`StoreError::Backend`].
//! - anything else (`ValidationError`, `ItemCollectionSizeLimitExceeded`, no reasons): a
//!   [`StoreError::Backend`].
//!
//! A failed condition wins over any other reason in the same answer: the transaction as
//! written cannot be applied, whatever happened to the other items.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;

use super::DynamoStore;
use crate::store::StoreError;

const OPERATION: &str = "TransactWriteItems";

/// How many times a transaction cancelled by conflicts is sent, the first time included.
pub(super) const CONFLICT_ATTEMPTS: usize = 4;

/// The delay before a conflicting transaction is sent again the first time; it doubles each
/// time, and each delay is jittered between half of it and all of it. At most 350 ms in all.
const CONFLICT_BACKOFF: Duration = Duration::from_millis(50);

/// What a transaction that was not applied tells by its cancellation reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancelled {
    /// A condition failed: someone else wrote first.
    ConditionFailed,
    /// Over capacity.
    Throttled,
    /// Another write on one of the items was in flight.
    Conflict,
}

/// Reads the cancellation reasons of a failed TransactWriteItems; `None` when it was not
/// cancelled, or cancelled for another reason.
fn cancellation<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Cancelled> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return None;
    };
    let reasons: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .filter_map(|r| r.code())
        .collect();
    let any = |codes: &[&str]| reasons.iter().any(|r| codes.contains(r));
    if any(&["ConditionalCheckFailed"]) {
        Some(Cancelled::ConditionFailed)
    } else if any(&["ThrottlingError", "ProvisionedThroughputExceeded"]) {
        Some(Cancelled::Throttled)
    } else if any(&["TransactionConflict"]) {
        Some(Cancelled::Conflict)
    } else {
        None
    }
}

/// What a transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transacted {
    /// Applied (or, with a `ClientRequestToken`, applied before: DynamoDB answers a retry
    /// within ten minutes as it answered the first request).
    Applied,
    /// Cancelled because a condition failed.
    ConditionFailed,
}

impl DynamoStore {
    /// Sends `request`, sending it again while it is cancelled by conflicts (see the module
    /// documentation); a failed condition is an answer, any other failure a store error.
    pub(super) async fn transact(
        &self,
        request: TransactWriteItemsFluentBuilder,
    ) -> Result<Transacted, StoreError> {
        let mut delay = CONFLICT_BACKOFF;
        let mut attempt = 1;
        loop {
            let err = match request.clone().send().await {
                Ok(_) => return Ok(Transacted::Applied),
                Err(err) => err,
            };
            match cancellation(&err) {
                Some(Cancelled::ConditionFailed) => return Ok(Transacted::ConditionFailed),
                Some(Cancelled::Throttled) => {
                    return Err(StoreError::Throttled {
                        operation: OPERATION,
                        source: Box::new(err),
                    });
                }
                Some(Cancelled::Conflict) if attempt < CONFLICT_ATTEMPTS => {
                    tracing::debug!(
                        attempt,
                        "transaction cancelled by a conflicting write; sending it again"
                    );
                    tokio::time::sleep(jittered(delay)).await;
                    delay *= 2;
                    attempt += 1;
                }
                Some(Cancelled::Conflict) | None => return Err(self.failed(OPERATION, err)),
            }
        }
    }
}

/// Between half of `delay` and all of it, at random: writers that conflicted once do not
/// meet again on the same beat.
fn jittered(delay: Duration) -> Duration {
    delay / 2 + delay.mul_f64(rand::random::<f64>() / 2.0)
}
