//! The deployment material in `docs/deploy/` stays correct: each file is parsed (YAML, systemd
//! INI) and its key fields are checked against the code — routes, roles, the CLI parser, the
//! workspace config type, the default deadline — and the CI snippets are run: the GitHub step
//! against a live server with curl, the GitLab job with the real `modelgate` binary, each
//! checked for the exit codes it promises (0 allow, 2 deny, 3 invalid, 1 failure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use common::{
    approval_issued_at, artifact, complete, request, sign_metadata, with, Fixture, OLIVIA,
};
use modelgate::attest::Role;
use modelgate::cli::serve::ServeArgs;
use modelgate::cli::{Cli, Command};
use modelgate::server::auth::TokenFile;
use modelgate::server::routes;
use modelgate::workspace::{ServerSettings, StorageKind, WorkspaceConfig, POSTGRES_URL_VAR};
use serde::Deserialize as _;
use serde_json::{json, Value};

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a YAML stream, as JSON values.
fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

fn route_role(method: &str, path: &str) -> Option<Option<&'static str>> {
    routes()
        .into_iter()
        .find(|r| r.method == method && r.path == path)
        .map(|r| r.role.map(|role| role.as_str()))
}

/// The `serve` arguments of a command line, as the binary parses them.
fn serve_args(argv: &[&str]) -> (PathBuf, ServeArgs) {
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    match cli.command {
        Command::Serve(args) => (cli.home, args),
        other => panic!("not `serve`: {other:?}"),
    }
}

fn deadline_ms() -> u64 {
    ServerSettings::default().deadline_ms
}

/// The `serve` arguments of a container whose image's entrypoint is `modelgate`.
fn container_serve_args(container: &Value) -> (PathBuf, ServeArgs) {
    let mut argv = vec!["modelgate"];
    argv.extend(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
    );
    serve_args(&argv)
}

/// A container's volume mounts: mount path → volume name.
fn mounts(container: &Value) -> BTreeMap<String, String> {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The pod's volume `name`.
fn pod_volume(pod: &Value, name: &str) -> Value {
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
        .clone()
}

/// The readiness probe asks `/readyz` and the liveness probe `/healthz` (open routes), over
/// HTTPS on the named container port.
fn assert_probes(container: &Value, port_name: &str) {
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(
            route_role("GET", path),
            Some(None),
            "{path} is an open route"
        );
        assert_eq!(get["port"], port_name, "{probe} port");
        assert_eq!(get["scheme"], "HTTPS", "{probe}: the server speaks TLS");
    }
}

/// The webhook calls `POST /v1/admission` (a pipeline route) on the Service of the Deployment
/// manifest, fails closed, waits longer than the server's deadline, and records nothing for
/// dry runs' side effects in the cluster (`NoneOnDryRun`).
#[test]
fn the_webhook_calls_the_admission_route_fail_closed_beyond_the_deadline() {
    let docs = yaml_docs(&deploy_file("kubernetes/webhook.yaml"));
    let config = of_kind(&docs, "ValidatingWebhookConfiguration");
    assert_eq!(config["apiVersion"], "admissionregistration.k8s.io/v1");
    let service_docs = yaml_docs(&deploy_file("kubernetes/modelgate.yaml"));
    let service = of_kind(&service_docs, "Service");
    let webhooks = config["webhooks"].as_array().unwrap();
    assert!(!webhooks.is_empty());
    for hook in webhooks {
        assert!(hook["admissionReviewVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("v1")));
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "NoneOnDryRun");
        let timeout = hook["timeoutSeconds"].as_u64().unwrap();
        assert!(
            timeout * 1000 > deadline_ms() && timeout <= 30,
            "timeoutSeconds {timeout} must exceed the {} ms deadline (and Kubernetes allows 30 s at most)",
            deadline_ms()
        );
        let target = &hook["clientConfig"]["service"];
        let path = target["path"].as_str().unwrap();
        assert_eq!(path, "/v1/admission");
        assert_eq!(route_role("POST", path), Some(Some("pipeline")));
        assert_eq!(target["name"], service["metadata"]["name"]);
        assert_eq!(target["namespace"], service["metadata"]["namespace"]);
        let port = target["port"].as_u64().unwrap_or(443);
        assert!(
            service["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == port),
            "the Service has port {port}"
        );
        let excluded = hook["namespaceSelector"]["matchExpressions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| {
                e["operator"] == "NotIn"
                    && e["values"]
                        .as_array()
                        .unwrap()
                        .contains(&service["metadata"]["namespace"])
            });
        assert!(
            excluded,
            "modelgate's own namespace is never governed by itself"
        );
        for rule in hook["rules"].as_array().unwrap() {
            let ops = rule["operations"].as_array().unwrap();
            assert!(ops.iter().all(|o| o == "CREATE" || o == "UPDATE"), "{rule}");
        }
    }
}

/// The Deployment runs `modelgate serve` with arguments the binary accepts (TLS on, listening
/// on the container port), probes `/readyz` and `/healthz` (open routes) over HTTPS, keeps the
/// ledger on a volume with one Recreate replica, gets its workspace from the Secret (whose
/// config parses as `modelgate.toml`), and is given longer than a deadline to stop.
#[test]
fn the_deployment_serves_tls_with_probes_and_its_workspace_from_a_secret() {
    let docs = yaml_docs(&deploy_file("kubernetes/modelgate.yaml"));
    let deployment = of_kind(&docs, "Deployment");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(
        deployment["spec"]["replicas"], 1,
        "one process owns the SQLite ledger"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace * 1000 > 2 * deadline_ms(),
        "time to finish requests and drain"
    );
    let containers = pod["containers"].as_array().unwrap();
    let main = containers
        .iter()
        .find(|c| c["name"] == "modelgate")
        .unwrap();

    let (home, serve) = container_serve_args(main);
    let listen = serve.listen.expect("--listen is explicit");
    let port = main["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == listen.port())
        .expect("the container port is the listen port");
    let port_name = port["name"].as_str().unwrap();
    let (cert, key) = (serve.tls_cert.unwrap(), serve.tls_key.unwrap());

    let volume = |name: &str| pod_volume(pod, name);
    let main_mounts = mounts(main);
    let mount_of = |path: &Path| -> String {
        main_mounts
            .iter()
            .find(|(at, _)| path.starts_with(at.as_str()))
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| panic!("{} is on no volume", path.display()))
    };
    assert!(
        volume(&mount_of(&home))["persistentVolumeClaim"].is_object(),
        "the ledger persists"
    );
    let tls = volume(&mount_of(&cert));
    assert!(tls["secret"]["secretName"].is_string());
    // The private key is read from the owner's own copy (secret volumes are group-readable),
    // kept in memory.
    let key_volume = volume(&mount_of(&key));
    assert_eq!(key_volume["emptyDir"]["medium"], "Memory", "{key_volume}");

    assert_probes(main, port_name);

    let service = of_kind(&docs, "Service");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    assert!(service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["targetPort"] == port_name));

    // The workspace Secret: its config is a valid modelgate.toml for this Deployment.
    let secret = of_kind(&docs, "Secret");
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "workspace")
        .unwrap();
    let init_mounts = mounts(init);
    let secret_mount = init_mounts
        .iter()
        .find(|(_, name)| volume(name)["secret"]["secretName"] == secret["metadata"]["name"])
        .map(|(at, _)| at.clone())
        .expect("the init container mounts the workspace Secret");
    let script = init["args"][0].as_str().unwrap();
    let key_text = key.to_str().unwrap();
    assert!(
        script.contains(&format!("chmod 0600 {key_text}"))
            && script.contains(&format!(" {key_text}\n")),
        "the init container copies the TLS key and makes it the owner's alone: {script}"
    );
    let key_dir = key.parent().unwrap().to_str().unwrap();
    assert_eq!(
        init_mounts.get(key_dir).map(String::as_str),
        key_volume["name"].as_str(),
        "the init container writes the key where the server reads it"
    );
    let home_text = home.to_str().unwrap();
    assert_eq!(
        init_mounts.get(home_text),
        main_mounts.get(home_text),
        "same ledger volume"
    );
    assert!(script.contains(&format!("home={home_text}")));
    assert!(
        script.contains("modelgate --home \"$home\" init"),
        "first start creates the ledger"
    );
    let data = secret["stringData"].as_object().unwrap();
    for file in ["modelgate.toml", "engine.key", "engine.pub", "tokens.toml"] {
        assert!(data.contains_key(file), "the Secret holds {file}");
        assert!(
            script.contains(&format!("{secret_mount}/{file}")),
            "the init container copies {file}"
        );
    }
    let config: WorkspaceConfig = toml::from_str(data["modelgate.toml"].as_str().unwrap()).unwrap();
    assert_eq!(
        config
            .server
            .listen
            .parse::<std::net::SocketAddr>()
            .unwrap(),
        listen
    );
    assert!(config.server.deadline_ms < grace * 1000);
    let policies = config.policy_dir.to_str().unwrap();
    assert_eq!(
        volume(&main_mounts[policies])["configMap"]["name"],
        "modelgate-policies"
    );
    toml::from_str::<TokenFile>(data["tokens.toml"].as_str().unwrap()).unwrap();
    for c in containers
        .iter()
        .chain(pod["initContainers"].as_array().unwrap())
    {
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    }
}

/// Whether a container runs the `modelgate` binary: the image's entrypoint (no `command`), or a
/// shell script with a line that starts with `modelgate`.
fn runs_modelgate(container: &Value) -> bool {
    container["command"].is_null()
        || container["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .flat_map(str::lines)
            .any(|line| line.trim_start().starts_with("modelgate "))
}

/// The password of a `postgres://user:password@host/db` URL, if it has one (or of the
/// key-value form's `password=`).
fn url_password(url: &str) -> Option<&str> {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (userinfo, _host) = authority.rsplit_once('@')?;
        return userinfo.split_once(':').map(|(_, password)| password);
    }
    url.split_whitespace()
        .find_map(|pair| pair.strip_prefix("password="))
}

/// The highly available Deployment runs several replicas of `modelgate serve` on one
/// PostgreSQL ledger: rolled one at a time, spread across nodes, kept at a minimum through
/// voluntary disruptions, with no volume that outlives a pod. Its workspace Secret says
/// `storage = "postgres"` without a password; the password reaches exactly the containers that
/// run modelgate through `MODELGATE_POSTGRES_URL` from a Secret of its own. The init container
/// copies the workspace and never creates a second ledger. TLS, probes and the Service are as
/// for one replica.
#[test]
fn the_ha_deployment_runs_replicas_on_postgres_with_the_password_in_a_secret() {
    let docs = yaml_docs(&deploy_file("kubernetes/modelgate-ha.yaml"));
    let deployment = of_kind(&docs, "Deployment");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    assert!(replicas >= 2, "several replicas: {replicas}");
    let strategy = &deployment["spec"]["strategy"];
    assert_eq!(strategy["type"], "RollingUpdate");
    assert!(
        strategy["rollingUpdate"]["maxUnavailable"]
            .as_u64()
            .is_some_and(|n| n <= 1),
        "one replica at a time: {strategy}"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], *pod_labels);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace * 1000 > 2 * deadline_ms(),
        "time to finish requests and drain"
    );

    // The ledger is in the database: nothing persistent on the pods.
    for doc in &docs {
        assert_ne!(doc["kind"], "PersistentVolumeClaim");
        assert_ne!(doc["kind"], "StatefulSet");
    }
    for v in pod["volumes"].as_array().unwrap() {
        assert!(
            v["persistentVolumeClaim"].is_null() && v["ephemeral"].is_null(),
            "no claimed volume: {v}"
        );
    }

    // Replicas on different nodes.
    let selects_pods = |selector: &Value| {
        let labels = selector["matchLabels"].as_object().unwrap();
        !labels.is_empty() && labels.iter().all(|(k, v)| pod_labels[k] == *v)
    };
    let spread = pod["topologySpreadConstraints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["topologyKey"] == "kubernetes.io/hostname"
                && c["whenUnsatisfiable"] == "DoNotSchedule"
                && selects_pods(&c["labelSelector"])
        });
    let anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["topologyKey"] == "kubernetes.io/hostname" && selects_pods(&t["labelSelector"]));
    assert!(spread || anti, "replicas are spread across nodes");

    // Serving: as for one replica.
    let main = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "modelgate")
        .unwrap();
    let (home, serve) = container_serve_args(main);
    let listen = serve.listen.expect("--listen is explicit");
    let port = main["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == listen.port())
        .expect("the container port is the listen port");
    let port_name = port["name"].as_str().unwrap();
    assert_probes(main, port_name);
    let (cert, key) = (serve.tls_cert.unwrap(), serve.tls_key.unwrap());
    let main_mounts = mounts(main);
    let mount_of = |path: &Path| -> String {
        main_mounts
            .iter()
            .find(|(at, _)| path.starts_with(at.as_str()))
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| panic!("{} is on no volume", path.display()))
    };
    let home_volume = pod_volume(pod, &mount_of(&home));
    assert!(home_volume["emptyDir"].is_object(), "{home_volume}");
    assert!(pod_volume(pod, &mount_of(&cert))["secret"]["secretName"].is_string());
    let key_volume = pod_volume(pod, &mount_of(&key));
    assert_eq!(key_volume["emptyDir"]["medium"], "Memory", "{key_volume}");

    // The init container copies the workspace from its Secret and the TLS key into memory.
    let secrets: BTreeMap<&str, &Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Secret")
        .map(|d| (d["metadata"]["name"].as_str().unwrap(), d))
        .collect();
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "workspace")
        .unwrap();
    let init_mounts = mounts(init);
    let (secret_mount, workspace) = init_mounts
        .iter()
        .find_map(|(at, name)| {
            let secret = pod_volume(pod, name)["secret"]["secretName"].clone();
            let doc = secrets.get(secret.as_str()?)?;
            doc["stringData"]["modelgate.toml"]
                .is_string()
                .then(|| (at.clone(), *doc))
        })
        .expect("the init container mounts the workspace Secret");
    let script = init["args"][0].as_str().unwrap();
    assert!(
        !script.contains(" init"),
        "the workspace is created once, outside the cluster; a second init would start another ledger: {script}"
    );
    let home_text = home.to_str().unwrap();
    assert!(script.contains(&format!("home={home_text}")));
    assert_eq!(
        init_mounts.get(home_text),
        main_mounts.get(home_text),
        "the init container fills the server's workspace"
    );
    let data = workspace["stringData"].as_object().unwrap();
    for file in ["modelgate.toml", "engine.key", "engine.pub", "tokens.toml"] {
        assert!(data.contains_key(file), "the Secret holds {file}");
        assert!(
            script.contains(&format!("{secret_mount}/{file}")),
            "the init container copies {file}"
        );
    }
    assert!(script.contains("chmod 0600 \"$home/engine.key\""));
    let key_text = key.to_str().unwrap();
    assert!(
        script.contains(&format!("chmod 0600 {key_text}"))
            && script.contains(&format!(" {key_text}\n")),
        "the init container copies the TLS key and makes it the owner's alone: {script}"
    );
    assert_eq!(
        init_mounts
            .get(key.parent().unwrap().to_str().unwrap())
            .map(String::as_str),
        key_volume["name"].as_str(),
        "the init container writes the key where the server reads it"
    );

    // The config: PostgreSQL, no password in it.
    let config: WorkspaceConfig = toml::from_str(data["modelgate.toml"].as_str().unwrap()).unwrap();
    assert_eq!(config.storage, StorageKind::Postgres);
    if let Some(url) = &config.postgres_url {
        assert_eq!(
            url_password(&url.0),
            None,
            "the password goes in {POSTGRES_URL_VAR}, not modelgate.toml: {}",
            url.0
        );
    }
    assert_eq!(
        config
            .server
            .listen
            .parse::<std::net::SocketAddr>()
            .unwrap(),
        listen
    );
    assert!(config.server.deadline_ms < grace * 1000);
    assert_eq!(
        pod_volume(pod, &main_mounts[config.policy_dir.to_str().unwrap()])["configMap"]["name"],
        "modelgate-policies"
    );
    toml::from_str::<TokenFile>(data["tokens.toml"].as_str().unwrap()).unwrap();

    // The password: from a Secret in this file, to exactly the containers that run modelgate.
    assert!(runs_modelgate(main));
    for c in pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["initContainers"].as_array().unwrap())
    {
        let name = &c["name"];
        let env = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == POSTGRES_URL_VAR);
        if !runs_modelgate(c) {
            assert!(env.is_none(), "{name} runs no modelgate: no password");
            continue;
        }
        let env = env.unwrap_or_else(|| panic!("{name} runs modelgate: {POSTGRES_URL_VAR}"));
        assert!(env["value"].is_null(), "{name}: never a literal");
        let from = &env["valueFrom"]["secretKeyRef"];
        let secret = secrets
            .get(from["name"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{name}: the Secret {from} is in the file"));
        assert_ne!(
            secret["metadata"]["name"], workspace["metadata"]["name"],
            "the password has a Secret of its own"
        );
        let url = secret["stringData"][from["key"].as_str().unwrap()]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: the Secret has the key {from}"));
        assert!(url_password(url).is_some(), "the full URL: {url}");
    }
    for c in pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["initContainers"].as_array().unwrap())
    {
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    }

    // Voluntary disruptions leave some replicas serving, and a node can still be drained.
    let pdb = of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(
        pdb["metadata"]["namespace"],
        deployment["metadata"]["namespace"]
    );
    assert!(selects_pods(&pdb["spec"]["selector"]));
    let min = pdb["spec"]["minAvailable"].as_u64().unwrap();
    assert!(
        (1..replicas).contains(&min),
        "minAvailable {min} of {replicas}"
    );

    let service = of_kind(&docs, "Service");
    assert_eq!(service["spec"]["selector"], *pod_labels);
    assert!(service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["targetPort"] == port_name));
}

/// `[section]` → key → values (a key may repeat), as systemd reads a unit file.
fn parse_unit(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            sections.entry(name.to_owned()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {line}", n + 1));
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("line {}: outside a section", n + 1));
        sections
            .entry(section)
            .or_default()
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    sections
}

/// The systemd unit starts `modelgate serve` with arguments the binary accepts, stops it with
/// SIGTERM and waits longer than a deadline, runs it unprivileged, and lets it write only its
/// workspace.
#[test]
fn the_systemd_unit_runs_serve_unprivileged_and_stops_it_gracefully() {
    let unit = parse_unit(&deploy_file("modelgate.service"));
    let one = |section: &str, key: &str| -> String {
        let values = &unit[section][key];
        assert_eq!(values.len(), 1, "{section}.{key} once");
        values[0].clone()
    };
    assert!(one("Unit", "After").contains("network-online.target"));
    let exec = one("Service", "ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert!(
        argv[0].starts_with('/') && argv[0].ends_with("/modelgate"),
        "absolute path: {exec}"
    );
    let (home, serve) = serve_args(&argv);
    assert!(serve.listen.is_some());
    assert_eq!(one("Service", "KillSignal"), "SIGTERM");
    let stop: u64 = one("Service", "TimeoutStopSec").parse().unwrap();
    assert!(stop * 1000 > 2 * deadline_ms());
    assert!(["simple", "exec"].contains(&one("Service", "Type").as_str()));
    let user = one("Service", "User");
    assert!(!user.is_empty() && user != "root");
    assert_eq!(one("Service", "NoNewPrivileges"), "yes");
    assert_eq!(one("Service", "ProtectSystem"), "strict");
    let writable = one("Service", "ReadWritePaths");
    assert!(
        writable.split_whitespace().any(|p| Path::new(p) == home),
        "the workspace is writable"
    );
    assert_eq!(one("Service", "Restart"), "on-failure");
    assert!(one("Service", "Environment").starts_with("MODELGATE_LOG="));
    assert_eq!(one("Install", "WantedBy"), "multi-user.target");
}

/// Runs `script` as a CI runner does (`bash -eo pipefail`) in `dir` with `env`; its exit code.
fn run_script(script: &str, dir: &Path, env: &[(&str, String)]) -> i32 {
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash runs the CI script");
    let code = out.status.code().unwrap();
    eprintln!(
        "exit {code}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    code
}

/// Panics, naming the package, when a tool the CI snippet uses is missing.
fn require_tool(tool: &str) {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "`{tool}` is needed to run the CI snippets (Debian package `{tool}`)"
    );
}

/// The GitHub Actions step, run with real curl and jq against a live server: allow exits 0 and
/// keeps the decision with its receipt; deny exits 2; an invalid request 3; an unknown token
/// and an unreachable server 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_step_exits_like_modelgate_check() {
    require_tool("curl");
    require_tool("jq");
    let docs = yaml_docs(&deploy_file("github-actions.yml"));
    assert!(
        docs[0]["on"]["workflow_dispatch"].is_object(),
        "`on:` is read as a key, not a boolean"
    );
    let steps = docs[0]["jobs"]["promote"]["steps"].as_array().unwrap();
    let step = steps.iter().find(|s| s["name"] == "Ask modelgate").unwrap();
    assert_eq!(
        step["env"]["MODELGATE_TOKEN"], "${{ secrets.MODELGATE_TOKEN }}",
        "the token comes from a secret"
    );
    let script = step["run"].as_str().unwrap().to_owned();
    assert!(script.contains("${MODELGATE_URL}/v1/decisions"));
    assert_eq!(route_role("POST", "/v1/decisions"), Some(Some("pipeline")));

    let fx = Fixture::new();
    let (pipeline, _, _) = http_support::issue_tokens(&fx.ws);
    let server = http_support::Running::start(&fx, |_| {}).await;
    let url = format!("http://{}", server.addr);
    let work = tempfile::tempdir().unwrap();
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    let cases = [
        (
            "allow",
            request(
                "fraud-scorer",
                "1.4.0",
                "production",
                &with(&md, &approvals),
            ),
            pipeline.clone(),
            url.clone(),
            0,
        ),
        (
            "deny",
            request(
                "fraud-scorer",
                "1.4.0",
                "production",
                std::slice::from_ref(&md),
            ),
            pipeline.clone(),
            url.clone(),
            2,
        ),
        (
            "invalid",
            json!({"model": "fraud-scorer"}),
            pipeline.clone(),
            url.clone(),
            3,
        ),
        (
            "unknown token",
            json!({}),
            "mg_unknown".to_owned(),
            url.clone(),
            1,
        ),
        (
            "unreachable",
            json!({}),
            pipeline.clone(),
            "http://127.0.0.1:9".to_owned(),
            1,
        ),
    ];
    for (case, body, token, url, want) in cases {
        std::fs::write(
            work.path().join("promotion-request.json"),
            serde_json::to_vec(&body).unwrap(),
        )
        .unwrap();
        let env = [("MODELGATE_URL", url), ("MODELGATE_TOKEN", token)];
        let dir = work.path().to_owned();
        let script = script.clone();
        let code = tokio::task::spawn_blocking(move || run_script(&script, &dir, &env))
            .await
            .unwrap();
        assert_eq!(code, want, "{case}");
        if case == "allow" {
            let kept: Value =
                serde_json::from_slice(&std::fs::read(work.path().join("decision.json")).unwrap())
                    .unwrap();
            assert_eq!(kept["decision"], "allow");
            assert!(
                kept["receipt"]["signatures"].is_array(),
                "the receipt is kept"
            );
        }
    }
    server.stop().await;
}

/// Writes a tier-2 production request judged by the binary (wall clock), approved or not.
fn wall_request(dir: &Path, approved: bool) {
    let wall = time::OffsetDateTime::now_utc();
    let due = (wall + time::Duration::days(200)).date();
    let due = format!(
        "{:04}-{:02}-{:02}",
        due.year(),
        u8::from(due.month()),
        due.day()
    );
    let meta =
        modelgate::cli::demo::full_metadata("churn", "1.0.0", 2, &artifact("churn", "1.0.0"), &due);
    let md = sign_metadata(meta, &artifact("churn", "1.0.0"), common::ALICE.1);
    let approvals = if approved {
        vec![approval_issued_at(
            &md,
            OLIVIA,
            Role::Owner,
            "production",
            wall - time::Duration::days(1),
            365,
        )]
    } else {
        Vec::new()
    };
    let req = request("churn", "1.0.0", "production", &with(&md, &approvals));
    std::fs::write(
        dir.join("promotion-request.json"),
        serde_json::to_vec(&req).unwrap(),
    )
    .unwrap();
}

/// The GitLab job's check, run with the real `modelgate` binary on a workspace: allow exits 0
/// and writes the JUnit report; deny exits 2; an invalid request 3.
#[test]
fn the_gitlab_job_exits_like_modelgate_check() {
    let docs = yaml_docs(&deploy_file("gitlab-ci.yml"));
    let job = &docs[0]["modelgate-check"];
    assert!(docs[0]["stages"]
        .as_array()
        .unwrap()
        .contains(&job["stage"]));
    assert_eq!(
        docs[0]["deploy"]["needs"],
        json!(["modelgate-check"]),
        "deploy waits for the check"
    );
    let script = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .find(|s| s.contains("modelgate check"))
        .unwrap()
        .to_owned();
    let report = job["artifacts"]["reports"]["junit"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(script.contains(&format!("> {report}")));

    let fx = Fixture::new();
    let bin = Path::new(env!("CARGO_BIN_EXE_modelgate"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = tempfile::tempdir().unwrap();
    let env = [
        ("PATH", path),
        ("MODELGATE_HOME", fx.dir.path().display().to_string()),
    ];
    wall_request(work.path(), true);
    assert_eq!(run_script(&script, work.path(), &env), 0, "allow");
    let junit = std::fs::read_to_string(work.path().join(&report)).unwrap();
    assert!(junit.contains("<testsuite"), "{junit}");
    wall_request(work.path(), false);
    assert_eq!(run_script(&script, work.path(), &env), 2, "deny");
    std::fs::write(
        work.path().join("promotion-request.json"),
        b"{\"model\": 1}",
    )
    .unwrap();
    assert_eq!(run_script(&script, work.path(), &env), 3, "invalid");
}
