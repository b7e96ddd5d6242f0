//! The scenarios: the stories the generator tells, as `impl Generator` blocks grouped by theme
//! — [`identity`] (sign-ins, service accounts, the spray and MFA bombing), [`network`] (flows
//! and the lateral scan), [`endpoint`] (logons, firewall blocks, detections and their
//! containment, device check-ins), [`cloud`] (AWS), [`cluster`] (the Kubernetes cluster, its
//! mesh, policies and audit logs), [`web`] (portal requests and admin probes) and [`story`] (the scripted attack story, one episode per detection rule).
//!
//! Scenarios are the only modules that use both sides: a scenario decides what happens, has a
//! [`writers`](super::writers) module write each record, and counts in the
//! [`Truth`](super::Truth) what the record means for the KPIs. A new story adds a file here.

mod cloud;
pub mod cluster;
pub mod endpoint;
mod identity;
mod network;
pub mod story;
mod web;

use super::Generator;
use super::company::Place;

impl Generator {
    /// A random public address in `origin`'s prefix.
    fn address_in(&mut self, origin: &Place) -> String {
        format!(
            "{}.{}.{}.{}",
            origin.prefix[0],
            origin.prefix[1],
            self.rng.below(250) + 1,
            self.rng.below(250) + 1
        )
    }
}
