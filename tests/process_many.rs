//! Many short-lived children at once: all reaped, no zombies, no leaked fds.
#![cfg(feature = "process")]

use std::time::Duration;

use pidward::process::Command;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

const CHILDREN: usize = 1000;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Processes whose parent is this process, with their state letter.
fn children() -> Vec<(u32, String)> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<String> = stat
                .rsplit_once(") ")?
                .1
                .split(' ')
                .map(str::to_owned)
                .collect();
            (fields[1] == me).then(|| (pid, fields[0].clone()))
        })
        .collect()
}

/// Each child holds four fds in the parent (three pipes and a pidfd) while it runs.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this test process.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(65536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    assert!(
        limit.rlim_cur as usize > CHILDREN * 4 + 100,
        "fd limit too low"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_children_spawned_and_reaped_concurrently() {
    raise_fd_limit();
    let fds_before = fd_count();
    timeout(Duration::from_secs(120), async {
        let mut tasks = JoinSet::new();
        for i in 0..CHILDREN {
            tasks.spawn(async move {
                let mut child = Command::new("sh")
                    .args(["-c", "echo $0", &i.to_string()])
                    .stdio_pipes()
                    .spawn()
                    .unwrap();
                child.close_stdin();
                let out = child.wait_with_output().await.unwrap();
                assert_eq!(out.stdout, format!("{i}\n").as_bytes());
                assert!(out.status.success());
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(children(), Vec::new(), "children left behind");
    assert_eq!(fd_count(), fds_before, "fds leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_dropped_handles_leave_no_zombies() {
    raise_fd_limit();
    let fds_before = fd_count();
    timeout(Duration::from_secs(120), async {
        let mut tasks = JoinSet::new();
        for _ in 0..CHILDREN {
            tasks.spawn(async move {
                // Dropped while (most likely) still running: the reaper takes over.
                let child = Command::new("sleep").arg("0.2").spawn().unwrap();
                drop(child);
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap();
        }
        loop {
            let left = children();
            if left.is_empty() {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("children still present (running or zombie) after two minutes");
    // The reaper keeps one epoll fd for the life of the process.
    let fds_after = fd_count();
    assert!(
        fds_after <= fds_before + 1,
        "fds before {fds_before}, after {fds_after}"
    );
}
