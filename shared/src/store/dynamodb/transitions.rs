//! An execution's transitions: the claim, its dispatch (and its release, a send never made),
//! its outcome, reconciliation and the guard's start and end. Each is one conditional write
//! (the claim: one transaction) whose condition expression [`rules`] documents clause by
//! clause; the `Store` impl calls them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue as AV, Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::codec::{
    DUE, GSI_PK, GSI_SK, Item, exec_item, exec_pk, exec_sk, from_item, job_item, n, s, strip_keys,
    ts,
};
use super::transact::Transacted;
use super::{DynamoStore, is_condition_failure, job_names};
use crate::model::{Execution, ExecutionId, Status};
use crate::store::{
    Claim, ClaimOutcome, GuardEnd, Outcome, RECONCILER, Recorded, StoreError, rules,
};

impl DynamoStore {
    /// The conditional write behind `Store::claim`; its condition expression translates
    /// [`rules::claim`].
    pub(super) async fn write_claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let (job_cond, job_values) = Self::job_condition(&claim.job, claim.expected_version);
        // The job and its execution go in the app's shard of the due index.
        let index_key = self.index_key(&claim.job.app);
        let put_job = Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_item(&claim.job, &index_key)?))
            .condition_expression(job_cond)
            .set_expression_attribute_names(Some(job_names(&claim.job)))
            .set_expression_attribute_values(Some(job_values))
            .build()
            .map_err(|e| StoreError::Backend {
                operation: "TransactWriteItems",
                source: Box::new(e),
            })?;
        let put_exec = Put::builder()
            .table_name(&self.table)
            .set_item(Some(exec_item(&claim.execution, &index_key)?))
            .condition_expression(
                "attribute_not_exists(pk) OR (claimed_by = :tok AND attribute_not_exists(dispatched_by))",
            )
            .expression_attribute_values(":tok", s(claim.token.clone()))
            .build()
            .map_err(|e| StoreError::Backend { operation: "TransactWriteItems", source: Box::new(e) })?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_job).build())
            .transact_items(TransactWriteItem::builder().put(put_exec).build())
            // Real DynamoDB treats a retry with the same token as the same transaction.
            .client_request_token(claim.token.clone());
        match self.transact(request).await? {
            Transacted::Applied => Ok(ClaimOutcome::Won),
            Transacted::ConditionFailed => {
                // Either someone else won, or this very claim was applied and its answer
                // lost, and the job has moved on since. The execution's token tells.
                let item = self
                    .get_item(
                        exec_pk(claim.execution.id.job_id()),
                        exec_sk(&claim.execution.id),
                    )
                    .await?;
                let ours = item
                    .and_then(|i| i.get("claimed_by").and_then(|v| v.as_s().ok()).cloned())
                    .is_some_and(|t| t == claim.token);
                Ok(if ours {
                    ClaimOutcome::Won
                } else {
                    ClaimOutcome::Lost
                })
            }
        }
    }

    /// The conditional write behind `Store::mark_dispatched`; its condition expression translates
    /// [`rules::mark_dispatched`].
    pub(super) async fn write_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Only the index's sort key moves: an execution its job's marker tracks has no
        // partition key in the index, and stays out of it.
        let result = self
            .update_execution(id)
            .update_expression(
                "SET dispatched_by = :tok, key_hash = :kh, started_at = :at, due_at = :dl, #gsk = :dln",
            )
            .condition_expression(
                "attribute_exists(pk) AND #st = :pending AND (attribute_not_exists(dispatched_by) OR dispatched_by = :tok)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":tok", s(token))
            .expression_attribute_values(":kh", s(key_hash))
            .expression_attribute_values(":at", ts(at))
            .expression_attribute_values(":dl", ts(deadline))
            .expression_attribute_values(":dln", n(deadline.timestamp_millis()))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The conditional write behind `Store::release_dispatch`; its condition expression
    /// translates [`rules::release_dispatch`].
    pub(super) async fn write_released(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_execution(id)
            .update_expression(
                "SET due_at = :due_at, #gsk = :due_ms REMOVE dispatched_by, key_hash, started_at",
            )
            // Pending and sent by this token; or already released by this very request (a
            // retry after a lost answer): not sent, due at the same instant.
            .condition_expression(
                "attribute_exists(pk) AND #st = :pending AND (dispatched_by = :tok OR (attribute_not_exists(dispatched_by) AND due_at = :due_at))",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":tok", s(token))
            .expression_attribute_values(":due_at", ts(due_at))
            .expression_attribute_values(":due_ms", n(due_at.timestamp_millis()))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The conditional write behind `Store::record_outcome`; its condition expression translates
    /// [`rules::record_outcome`].
    pub(super) async fn write_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        let mut set = vec![
            "#st = :st",
            "finished_at = :fin",
            "duration_ms = :dur",
            "outcome_by = :tok",
        ];
        let mut values: Item = HashMap::from([
            (":st".to_owned(), s(outcome.status.as_str())),
            (":fin".to_owned(), ts(outcome.finished_at)),
            (":dur".to_owned(), n(outcome.duration_ms as i64)),
            (":tok".to_owned(), s(token)),
            (":pending".to_owned(), s(Status::Pending.as_str())),
        ]);
        if let Some(code) = outcome.http_status {
            set.push("http_status = :hs");
            values.insert(":hs".into(), n(i64::from(code)));
        }
        if let Some(output) = &outcome.output {
            set.push("#out = :out");
            values.insert(":out".into(), s(output.clone()));
        }
        if let Some(error) = &outcome.error {
            set.push("#err = :err");
            values.insert(":err".into(), s(error.clone()));
        }
        let mut names = HashMap::from([
            ("#st".to_owned(), "status".to_owned()),
            ("#gpk".to_owned(), GSI_PK.to_owned()),
            ("#gsk".to_owned(), GSI_SK.to_owned()),
        ]);
        if outcome.output.is_some() {
            names.insert("#out".into(), "output".into());
        }
        if outcome.error.is_some() {
            names.insert("#err".into(), "error".into());
        }
        let result = self
            .update_execution(id)
            .update_expression(format!("SET {} REMOVE due_at, #gpk, #gsk", set.join(", ")))
            // Pending and sent by this tick; or already recorded by this very write (a retry
            // after a lost answer).
            .condition_expression("(#st = :pending AND dispatched_by = :tok) OR outcome_by = :tok")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Recorded::Recorded),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(self.failed("UpdateItem", e)),
        }
        // Not pending any more: the app's guard claimed it (then the outcome is the app's,
        // and the tick adds only the HTTP status), or it was reconciled meanwhile.
        let Some(item) = self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? else {
            return Ok(Recorded::NotOurs);
        };
        let exec: Execution = from_item(strip_keys(item))?;
        if exec.dispatched_by.as_deref() != Some(token) || exec.guard_nonce.is_none() {
            return Ok(Recorded::NotOurs);
        }
        // rules::record_outcome decides on what was read; the update writes its decision,
        // conditioned so that a tick taking the app's end meanwhile wins alone.
        let decision = rules::record_outcome(&exec, token, outcome);
        let mut update = self
            .update_execution(id)
            .expression_attribute_values(":tok", s(token));
        let mut set = Vec::new();
        let mut condition = "dispatched_by = :tok AND attribute_exists(guard_nonce)".to_owned();
        if let (Some(code), None) = (outcome.http_status, exec.http_status) {
            set.push("http_status = :hs");
            update = update.expression_attribute_values(":hs", n(i64::from(code)));
        }
        // The rule takes the app's end (it counts it here): only if still due as read.
        let takes = exec.counted_by.is_none()
            && decision
                .write
                .as_ref()
                .is_some_and(|next| next.counted_by.as_deref() == Some(token));
        let mut remove = Vec::new();
        if let (true, Some(seen_due)) = (takes, exec.due_at) {
            set.push("counted_by = :tok");
            remove.extend(["due_at", "#gpk", "#gsk"]);
            condition.push_str(" AND (due_at = :seen_due OR counted_by = :tok)");
            update = update
                .expression_attribute_values(":seen_due", ts(seen_due))
                .expression_attribute_names("#gpk", GSI_PK)
                .expression_attribute_names("#gsk", GSI_SK);
        }
        let mut expression = Vec::new();
        if !set.is_empty() {
            expression.push(format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            expression.push(format!("REMOVE {}", remove.join(", ")));
        }
        if !expression.is_empty() {
            match update
                .update_expression(expression.join(" "))
                .condition_expression(condition)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_condition_failure(&e) => return Ok(Recorded::NotOurs),
                Err(e) => return Err(self.failed("UpdateItem", e)),
            }
        }
        Ok(decision.answer)
    }

    /// The conditional write behind `Store::untrack`; its condition expression translates
    /// [`rules::untrack`].
    pub(super) async fn write_untracked(&self, seen: &Execution) -> Result<bool, StoreError> {
        let Some(due) = seen
            .due_at
            .filter(|_| seen.tracked && !seen.status.is_final())
        else {
            return Ok(false);
        };
        let result = self
            .update_execution(&seen.id)
            .update_expression(
                "SET #gpk = :shard, #gsk = if_not_exists(#gsk, :due_ms) REMOVE tracked",
            )
            .condition_expression("tracked = :true AND #st IN (:pending, :running)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#gpk", GSI_PK)
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":shard", s(self.index_key(&seen.app)))
            .expression_attribute_values(":due_ms", n(due.timestamp_millis()))
            .expression_attribute_values(":true", AV::Bool(true))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .expression_attribute_values(":running", s(Status::Running.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The conditional write behind `Store::reconcile`; its condition expression translates
    /// [`rules::reconcile`].
    pub(super) async fn write_reconciled(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // rules::reconcile: what the tick saw must have a deadline and no outcome yet.
        let Some(seen_due) = seen.due_at.filter(|_| rules::may_reconcile(seen)) else {
            return Ok(false);
        };
        let result = self
            .update_execution(&seen.id)
            .update_expression(
                "SET #st = :to, #err = :err, finished_at = :now, outcome_by = :rec REMOVE due_at, #gpk, #gsk",
            )
            // Still as seen; or already written by this very request (a retry after a lost answer).
            .condition_expression(
                "(#st = :seen AND due_at = :seen_due) OR (outcome_by = :rec AND finished_at = :now AND #err = :err)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_names("#gpk", GSI_PK)
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":to", s(Status::TimedOut.as_str()))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":rec", s(RECONCILER))
            .expression_attribute_values(":seen", s(seen.status.as_str()))
            .expression_attribute_values(":seen_due", ts(seen_due))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The conditional write behind `Store::guard_start`; its condition expression translates
    /// [`rules::guard_start`].
    pub(super) async fn write_guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_execution(id)
            .update_expression("SET #st = :running, guard_nonce = :n, started_at = :at")
            .condition_expression("#st = :pending AND key_hash = :kh")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(Status::Running.as_str()))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .expression_attribute_values(":n", s(nonce))
            .expression_attribute_values(":kh", s(key_hash))
            .expression_attribute_values(":at", ts(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => {
                // A retried request whose first try was applied finds its own nonce.
                let Some(item) = self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? else {
                    return Ok(false);
                };
                let exec: Execution = from_item(strip_keys(item))?;
                Ok(exec.status == Status::Running && exec.guard_nonce.as_deref() == Some(nonce))
            }
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The conditional write behind `Store::guard_end`; its condition expression translates
    /// [`rules::guard_end`].
    pub(super) async fn write_guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        // Due at the end's instant, in the index, until a tick takes it (rules::guard_end).
        let mut set = vec![
            "#st = :st",
            "finished_at = :fin",
            "duration_ms = :dur",
            "due_at = :fin",
            "#gpk = :due",
            "#gsk = :fin_ms",
        ];
        // An execution its job's marker tracked is counted through the index too.
        let mut remove = vec!["tracked"];
        let mut values: Item = HashMap::from([
            (":st".to_owned(), s(end.status.as_str())),
            (":fin".to_owned(), ts(end.finished_at)),
            (":due".to_owned(), s(DUE)),
            (":fin_ms".to_owned(), n(end.finished_at.timestamp_millis())),
            (":dur".to_owned(), n(end.duration_ms as i64)),
            (":n".to_owned(), s(nonce)),
            (":running".to_owned(), s(Status::Running.as_str())),
            (":timed_out".to_owned(), s(Status::TimedOut.as_str())),
            (":rec".to_owned(), s(RECONCILER)),
        ]);
        if let Some(code) = end.http_status {
            set.push("http_status = :hs");
            values.insert(":hs".into(), n(i64::from(code)));
        }
        match &end.output {
            Some(output) => {
                set.push("#out = :out");
                values.insert(":out".into(), s(output.clone()));
            }
            None => remove.push("#out"),
        }
        match &end.error {
            Some(error) => {
                set.push("#err = :err");
                values.insert(":err".into(), s(error.clone()));
            }
            None => remove.push("#err"),
        }
        let names = HashMap::from([
            ("#st".to_owned(), "status".to_owned()),
            ("#out".to_owned(), "output".to_owned()),
            ("#err".to_owned(), "error".to_owned()),
            ("#gpk".to_owned(), GSI_PK.to_owned()),
            ("#gsk".to_owned(), GSI_SK.to_owned()),
        ]);
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let result = self
            .update_execution(id)
            .update_expression(expression)
            .condition_expression(
                "guard_nonce = :n AND (#st = :running OR (#st = :timed_out AND outcome_by = :rec))",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => {
                // A retried end whose first try was applied finds itself, and writes nothing:
                // a tick may have counted it since (rules::guard_end).
                let Some(item) = self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? else {
                    return Ok(false);
                };
                let exec: Execution = from_item(strip_keys(item))?;
                Ok(exec.guard_nonce.as_deref() == Some(nonce)
                    && rules::is_this_guard_end(&exec, end))
            }
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The conditional write behind `Store::take_guard_end`; its condition expression
    /// translates [`rules::take_guard_end`].
    pub(super) async fn write_guard_end_taken(
        &self,
        seen: &Execution,
        token: &str,
    ) -> Result<bool, StoreError> {
        // rules::take_guard_end: what the tick saw must be finished and still due.
        let Some(seen_due) = seen.due_at.filter(|_| rules::may_take_guard_end(seen)) else {
            return Ok(false);
        };
        let result = self
            .update_execution(&seen.id)
            .update_expression("SET counted_by = :tok REMOVE due_at, #gpk, #gsk")
            // Still as seen; or already taken by this very request (a retry after a lost answer).
            .condition_expression(
                "(attribute_exists(guard_nonce) AND due_at = :seen_due AND NOT #st IN (:pending, :running)) OR counted_by = :tok",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#gpk", GSI_PK)
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":tok", s(token))
            .expression_attribute_values(":seen_due", ts(seen_due))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .expression_attribute_values(":running", s(Status::Running.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }
}
