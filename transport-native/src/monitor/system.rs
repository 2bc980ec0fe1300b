//! Host metrics with `sysinfo`, sampled off the async threads.
//!
//! CPU usage is the change between two readings of the kernel's counters, so one long-lived
//! [`System`] is kept and sampled on an interval: each sample reports the CPU share since the
//! previous one. Nothing ever sleeps to measure (the original blocked its event loop for a
//! second per collection).

use std::path::Path;
use std::time::Duration;

use sysinfo::{Disks, MemoryRefreshKind, Networks, ProcessRefreshKind, ProcessesToUpdate, System};
use tether_core::{NetworkIo, SystemSample};

/// How long after its first reading a new sampler's CPU share is worth reading (sysinfo's
/// minimum update interval is 200 ms).
pub(super) const FIRST_SAMPLE_AFTER: Duration = Duration::from_millis(250);

/// The host's readers, kept between samples.
pub(super) struct Sampler {
    system: System,
    disks: Disks,
    networks: Networks,
}

impl Sampler {
    /// Readers with a first CPU reading taken (the next sample measures from it); `None` when
    /// the platform is not supported.
    pub(super) fn new() -> Option<Self> {
        let mut system = System::new().ok()?;
        system.refresh_cpu_usage();
        Some(Sampler {
            system,
            disks: Disks::new_with_refreshed_list().ok()?,
            networks: Networks::new_with_refreshed_list().ok()?,
        })
    }

    /// Reads the host: CPU since the previous sample, memory and `/` usage, cumulative network
    /// counters of every interface, and the number of processes. Percentages are rounded to
    /// one decimal, as psutil reports them. Blocking (it reads `/proc`): run it on a blocking
    /// thread.
    pub(super) fn sample(&mut self) -> SystemSample {
        let s = &mut self.system;
        s.refresh_cpu_usage();
        s.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        s.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing());
        self.disks.refresh(true);
        self.networks.refresh(true);
        let total = s.total_memory();
        let memory = if total == 0 {
            0.0
        } else {
            percent(total.saturating_sub(s.available_memory()), total)
        };
        let disk = self
            .disks
            .iter()
            .find(|d| d.mount_point() == Path::new("/"))
            .map_or(0.0, |d| {
                percent(
                    d.total_space().saturating_sub(d.available_space()),
                    d.total_space(),
                )
            });
        let mut io = NetworkIo::default();
        for (_, data) in &self.networks {
            io.bytes_sent = io.bytes_sent.saturating_add(data.total_transmitted());
            io.bytes_recv = io.bytes_recv.saturating_add(data.total_received());
            io.packets_sent = io
                .packets_sent
                .saturating_add(data.total_packets_transmitted());
            io.packets_recv = io
                .packets_recv
                .saturating_add(data.total_packets_received());
        }
        let processes = s
            .processes()
            .values()
            .filter(|p| p.thread_kind().is_none())
            .count();
        SystemSample {
            cpu_percent: round1(f64::from(s.global_cpu_usage())),
            memory_percent: memory,
            disk_usage_percent: disk,
            network_io: Some(io),
            process_count: processes as u64,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round1(part as f64 * 100.0 / whole as f64)
    }
}

fn round1(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10.0).round() / 10.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_this_host() {
        let mut sampler = Sampler::new().expect("linux is supported");
        let s = sampler.sample();
        assert!((0.0..=100.0).contains(&s.cpu_percent), "{s:?}");
        assert!(s.memory_percent > 0.0 && s.memory_percent <= 100.0, "{s:?}");
        assert!(
            s.disk_usage_percent > 0.0 && s.disk_usage_percent <= 100.0,
            "{s:?}"
        );
        assert!(s.process_count >= 1, "{s:?}");
        let io = s.network_io.expect("network counters");
        // loopback traffic counts: the counters are cumulative since boot
        assert!(io.bytes_recv > 0 && io.packets_recv > 0, "{io:?}");
        assert!((round1(12.345) - 12.3).abs() < 1e-9);
        assert!((percent(1, 3) - 33.3).abs() < 1e-9);
        assert!(percent(1, 0).abs() < f64::EPSILON);
    }
}
