//! The health judgement: seed 002's offset thresholds and minimum source
//! count, and seed 004's alert levels (stratum above 3 critical, offset,
//! jitter and frequency warnings), all from `[monitoring]`.

use ntp_config::MonitoringConfig;

use crate::api::model::{Health, HealthState};

/// The facts health is judged on.
#[derive(Clone, Copy, Debug, Default)]
pub struct HealthInputs {
    /// Replies carry usable time.
    pub synchronised: bool,
    /// Serving a deliberately configured local reference.
    pub local_reference: bool,
    /// Stratum served.
    pub stratum: u8,
    /// Offset estimate, seconds.
    pub offset: f64,
    /// Jitter, seconds.
    pub jitter: f64,
    /// Frequency correction, ppm.
    pub frequency_ppm: f64,
    /// Sources usable now.
    pub sources_selectable: usize,
    /// The configured leap second table is expired or invalid.
    pub leap_table_unusable: bool,
}

/// Judges `inputs` against the thresholds in `m`.
pub fn assess(m: &MonitoringConfig, inputs: &HealthInputs) -> Health {
    let mut state = HealthState::Ok;
    let mut reasons = Vec::new();
    let mut raise = |to: HealthState, why: String| {
        state = state.max(to);
        reasons.push(why);
    };
    if !inputs.synchronised {
        raise(HealthState::Critical, "not synchronised: serving leap 3 (clients will not use this server)".into());
    }
    if inputs.synchronised && !inputs.local_reference && inputs.stratum > m.stratum_critical_above {
        raise(
            HealthState::Critical,
            format!(
                "stratum {} is above monitoring.stratum_critical_above = {}",
                inputs.stratum, m.stratum_critical_above
            ),
        );
    }
    let offset_ms = inputs.offset.abs() * 1e3;
    if offset_ms > m.offset.critical_threshold {
        raise(
            HealthState::Critical,
            format!("offset {offset_ms:.3} ms is above the critical threshold {} ms", m.offset.critical_threshold),
        );
    } else if offset_ms > m.offset.warning_threshold {
        raise(
            HealthState::Warning,
            format!("offset {offset_ms:.3} ms is above the warning threshold {} ms", m.offset.warning_threshold),
        );
    }
    let jitter_ms = inputs.jitter * 1e3;
    if jitter_ms > m.jitter_warning_threshold {
        raise(
            HealthState::Warning,
            format!("jitter {jitter_ms:.3} ms is above the warning threshold {} ms", m.jitter_warning_threshold),
        );
    }
    if inputs.frequency_ppm.abs() > m.frequency_warning_threshold {
        raise(
            HealthState::Warning,
            format!(
                "frequency correction {:.3} ppm is above the warning threshold {} ppm",
                inputs.frequency_ppm, m.frequency_warning_threshold
            ),
        );
    }
    if inputs.leap_table_unusable {
        raise(
            HealthState::Warning,
            "the leap second table (server.leapfile / server.leapsectz) is expired or invalid and not used: see leap_seconds.problem".into(),
        );
    }
    if !inputs.local_reference && (inputs.sources_selectable as u64) < u64::from(m.sources_minimum) {
        raise(
            HealthState::Warning,
            format!(
                "{} usable source(s), fewer than monitoring.sources_minimum = {}",
                inputs.sources_selectable, m.sources_minimum
            ),
        );
    }
    Health { state, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> HealthInputs {
        HealthInputs { synchronised: true, stratum: 2, sources_selectable: 3, ..Default::default() }
    }

    #[test]
    fn thresholds_from_seed_002_and_004() {
        let m = MonitoringConfig::default();
        assert_eq!(assess(&m, &good()).state, HealthState::Ok);
        let h = assess(&m, &HealthInputs { stratum: 4, ..good() });
        assert_eq!(h.state, HealthState::Critical);
        assert!(h.reasons[0].contains("stratum 4"));
        assert_eq!(assess(&m, &HealthInputs { offset: 0.2, ..good() }).state, HealthState::Warning);
        assert_eq!(assess(&m, &HealthInputs { offset: -1.5, ..good() }).state, HealthState::Critical);
        assert_eq!(assess(&m, &HealthInputs { jitter: 0.2, ..good() }).state, HealthState::Warning);
        assert_eq!(assess(&m, &HealthInputs { frequency_ppm: -12.0, ..good() }).state, HealthState::Warning);
        assert_eq!(assess(&m, &HealthInputs { sources_selectable: 0, ..good() }).state, HealthState::Warning);
        assert_eq!(assess(&m, &HealthInputs { synchronised: false, ..good() }).state, HealthState::Critical);
        assert_eq!(assess(&m, &HealthInputs { leap_table_unusable: true, ..good() }).state, HealthState::Warning);
    }

    #[test]
    fn a_local_reference_is_not_judged_on_stratum_or_sources() {
        let m = MonitoringConfig::default();
        let h =
            assess(&m, &HealthInputs { synchronised: true, local_reference: true, stratum: 10, ..Default::default() });
        assert_eq!(h.state, HealthState::Ok, "{h:?}");
    }
}
