//! Command-line options of `ntp-sim`.

use crate::credentials::AuthMode;
use crate::timestamping::T1Source;

/// Parsed options.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Scenario name.
    pub scenario: String,
    /// Mean network jitter per direction, s.
    pub jitter: f64,
    /// Number of runs.
    pub runs: usize,
    /// Print the JSON summary line last.
    pub json: bool,
    /// Random seed.
    pub seed: u64,
    /// Simulated seconds per run, overriding the scenario's.
    pub duration: Option<f64>,
    /// Seconds after the start not counted in RMS and maximum, overriding the scenario's.
    pub settle: Option<f64>,
    /// How requests are protected.
    pub auth: AuthMode,
    /// Where the client's T1 comes from.
    pub t1: T1Source,
}

/// Usage text.
pub const USAGE: &str =
    "usage: ntp-sim --scenario NAME [--jitter SECONDS] [--runs N] [--json] [--seed S] [--duration SECONDS] [--settle SECONDS] [--auth none|mac|nts] [--timestamps kernel|send|poll]
  scenarios: stable, wander, intermittent, falseticker, startup, lossy, quiet, quiet-predicted-transmit,
             gps-pps, gps-nmea, leap-insert, leap-delete, busy-server, busy-server-xleave,
             chaos-upstreams, chaos-blackout, chaos-dns, chaos-step
  (chaos-*: injected faults; each fault's holdover, recovery and first sample after it are reported)
  (--timestamps: T1 from the kernel's transmit timestamp, as the daemon takes it; from a clock read
   right before send(); or from the read when the poll came due, as before kernel timestamps)
  (gps-pps: --jitter is the pulse jitter; gps-nmea: the NMEA sentences' jitter)
  defaults:  --jitter 100e-6 --runs 10 --seed 1 --auth none --timestamps kernel";

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        scenario: String::new(),
        jitter: 100e-6,
        runs: 10,
        json: false,
        seed: 1,
        duration: None,
        settle: None,
        auth: AuthMode::None,
        t1: T1Source::Kernel,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{name} needs a value"))
        };
        match key {
            "--scenario" => o.scenario = value(key)?,
            "--jitter" => o.jitter = num(key, &value(key)?)?,
            "--runs" => o.runs = value(key)?.parse().map_err(|_| "--runs needs a whole number".to_string())?,
            "--seed" => o.seed = value(key)?.parse().map_err(|_| "--seed needs a whole number".to_string())?,
            "--duration" => o.duration = Some(num(key, &value(key)?)?),
            "--settle" => o.settle = Some(num(key, &value(key)?)?),
            "--auth" => o.auth = AuthMode::parse(&value(key)?)?,
            "--timestamps" => o.t1 = T1Source::parse(&value(key)?)?,
            "--json" => o.json = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if o.scenario.is_empty() {
        return Err(format!("--scenario is required\n{USAGE}"));
    }
    if o.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(o)
}

fn num(name: &str, v: &str) -> Result<f64, String> {
    v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("{name} needs a number, not {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn parses_the_documented_forms() {
        let o = p("--scenario stable --jitter 100e-6 --runs 3 --json --seed 9 --duration=3600 --settle 100").unwrap();
        assert_eq!(o.scenario, "stable");
        assert_eq!(o.jitter, 100e-6);
        assert_eq!((o.runs, o.json, o.seed, o.duration, o.settle), (3, true, 9, Some(3600.0), Some(100.0)));
        assert!(p("--jitter 1").is_err());
        assert!(p("--scenario x --runs 0").is_err());
        assert!(p("--scenario x --jitter abc").is_err());
        assert!(p("--scenario x --bogus").is_err());
        assert_eq!(p("--scenario x --auth nts").unwrap().auth, AuthMode::Nts);
        assert!(p("--scenario x --auth rot13").is_err());
        assert_eq!(p("--scenario x").unwrap().t1, T1Source::Kernel);
        assert_eq!(p("--scenario x --timestamps poll").unwrap().t1, T1Source::Poll);
        assert!(p("--scenario x --timestamps user").is_err());
    }
}
