//! A DynamoDB-compatible server for the tests: moto.
//!
//! `./scripts/test` starts one moto server for the whole run and exports its URL as
//! `PSU_SCHED_TEST_DYNAMODB_ENDPOINT`. A test run some other way (`cargo test`, an IDE) starts
//! its own from the moto in `.venv` (through `scripts/moto_server.py`, as `./scripts/test`
//! does, when that file exists), once per test process; it stops when the test process exits.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The variable that `./scripts/test` sets to its moto server's URL.
pub const ENDPOINT_VAR: &str = "PSU_SCHED_TEST_DYNAMODB_ENDPOINT";
/// The region every test client uses.
pub const REGION: &str = "us-west-2";

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The URL of a DynamoDB-compatible server (`http://127.0.0.1:PORT`).
///
/// Panics when there is none: neither `PSU_SCHED_TEST_DYNAMODB_ENDPOINT` nor
/// `.venv/bin/moto_server`.
pub async fn endpoint() -> String {
    if let Some(url) = ENDPOINT.get() {
        return url.clone();
    }
    // The first call may start a server and wait for it: keep that off the async threads.
    match tokio::task::spawn_blocking(|| ENDPOINT.get_or_init(init).clone()).await {
        Ok(url) => url,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// An SDK config for `endpoint` with dummy credentials and the test region.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "psu-sched-tests",
        ))
        .load()
        .await
}

/// A DynamoDB client for `endpoint` (moto's or a [`FaultProxy`](super::faultproxy::FaultProxy)'s).
pub async fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await)
}

/// A table name no other test uses: `psu-test-<uuid>`.
pub fn unique_table_name() -> String {
    format!("psu-test-{}", uuid::Uuid::new_v4().simple())
}

/// Adds a global index on the due index's keys (`gsi1pk`, `gsi1sk`) to `table`, as a stack
/// update of infra/template.yaml does: `due` with projection ALL, or `due-keys` keys only.
/// moto builds it `ACTIVE` at once, every item included.
pub async fn add_due_index(client: &aws_sdk_dynamodb::Client, table: &str, name: &str) {
    use aws_sdk_dynamodb::types::{
        CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType,
        Projection, ProjectionType,
    };
    let key = |attribute: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build()
            .expect("key schema element")
    };
    let projection = if name == "due" {
        ProjectionType::All
    } else {
        ProjectionType::KeysOnly
    };
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .key_schema(key("gsi1pk", KeyType::Hash))
        .key_schema(key("gsi1sk", KeyType::Range))
        .projection(Projection::builder().projection_type(projection).build())
        .build()
        .expect("the index");
    client
        .update_table()
        .table_name(table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable adding {name}: {e:?}"));
}

/// Deletes the global index `name` of `table`, as a stack update does.
pub async fn delete_index(client: &aws_sdk_dynamodb::Client, table: &str, name: &str) {
    use aws_sdk_dynamodb::types::{DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let delete = DeleteGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .build()
        .expect("the deletion");
    client
        .update_table()
        .table_name(table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().delete(delete).build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable deleting {name}: {e:?}"));
}

/// The names of `table`'s global indexes.
pub async fn index_names(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("DescribeTable");
    let mut names: Vec<String> = described
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn init() -> String {
    set_env_if_unset("AWS_ACCESS_KEY_ID", "test");
    set_env_if_unset("AWS_SECRET_ACCESS_KEY", "test");
    set_env_if_unset("AWS_REGION", REGION);
    set_env_if_unset("AWS_EC2_METADATA_DISABLED", "true");

    if let Ok(url) = std::env::var(ENDPOINT_VAR)
        && !url.is_empty()
    {
        return url;
    }
    let root = workspace_root();
    if !root.join(".venv/bin/moto_server").exists() {
        panic!("no DynamoDB-compatible server: run ./scripts/test (it installs moto into .venv)");
    }
    // The same server as ./scripts/test's: scripts/moto_server.py when the project has it.
    let wrapper = root.join("scripts/moto_server.py");
    let command = if wrapper.exists() {
        vec![root.join(".venv/bin/python"), wrapper]
    } else {
        vec![root.join(".venv/bin/moto_server")]
    };
    start_moto(&command)
}

fn set_env_if_unset(name: &str, value: &str) {
    if std::env::var_os(name).is_none() {
        // SAFETY: runs once, inside the `ENDPOINT` once-init, before any test of this process
        // has built an AWS client that reads these variables.
        unsafe { std::env::set_var(name, value) };
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts moto (`command`, then `-H 127.0.0.1 -p PORT`) on a free port behind a watcher shell
/// that kills it once this process is gone.
fn start_moto(command: &[PathBuf]) -> String {
    let port = free_port();
    let log = std::env::temp_dir().join(format!("psu-sched-moto-{port}.log"));
    // $1: the parent's pid, $2: the port, $3: the log, then the command.
    let script = r#"
        parent=$1 port=$2 log=$3
        shift 3
        "$@" -H 127.0.0.1 -p "$port" > "$log" 2>&1 &
        moto=$!
        while kill -0 "$parent" 2> /dev/null; do
            kill -0 "$moto" 2> /dev/null || exit 1
            sleep 1
        done
        kill "$moto" 2> /dev/null
        rm -f "$log"
    "#;
    let mut watcher = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("psu-sched-moto")
        .arg(std::process::id().to_string())
        .arg(port.to_string())
        .arg(&log)
        .args(command)
        // Hold none of the test's output pipes: test runners wait for them to close.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("could not start bash for {command:?}: {err}"));

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // Reaps the watcher when it ends, so it never lingers as a zombie.
            std::thread::spawn(move || watcher.wait());
            return format!("http://{addr}");
        }
        if let Ok(Some(status)) = watcher.try_wait() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("moto server exited ({status}) before answering on {addr}:\n{log}");
        }
        if Instant::now() > deadline {
            panic!(
                "moto server did not answer on {addr} within 30 s (log: {})",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
