//! The psu-sched tick function for AWS Lambda. The EventBridge wiring is its own issue;
//! until then this binary only states what it is.

fn main() {
    eprintln!(
        "psu-sched-tick {}: the Lambda handler arrives with its own issue",
        env!("CARGO_PKG_VERSION")
    );
}
