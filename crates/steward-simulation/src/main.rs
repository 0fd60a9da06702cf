//! Runs the whole-cluster simulation over a range of seeds and prints, for a seed that breaks
//! an invariant, the command that replays it.
//!
//! `steward-simulation --seeds 1..5000 --steps 300` (the range is half-open) or
//! `steward-simulation --seed 1234 --steps 300` for one run.

use std::ops::Range;
use std::process::ExitCode;

use steward_simulation::{run_seed, Stats};

struct Args {
    seeds: Range<u64>,
    steps: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        seeds: 1..1001,
        steps: steward_simulation::DEFAULT_STEPS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seed" => {
                let seed: u64 = value.parse().map_err(|e| format!("--seed {value}: {e}"))?;
                args.seeds = seed..seed + 1;
            }
            "--seeds" => {
                let (from, to) = value
                    .split_once("..")
                    .ok_or(format!("--seeds {value}: expected FROM..TO"))?;
                let from: u64 = from.parse().map_err(|e| format!("--seeds {value}: {e}"))?;
                let to: u64 = to.parse().map_err(|e| format!("--seeds {value}: {e}"))?;
                args.seeds = from..to;
            }
            "--steps" => {
                args.steps = value.parse().map_err(|e| format!("--steps {value}: {e}"))?;
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\nusage: steward-simulation [--seed N | --seeds FROM..TO] [--steps N]");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let mut total = Stats::default();
    let runs = args.seeds.end.saturating_sub(args.seeds.start);
    for seed in args.seeds {
        match run_seed(seed, args.steps) {
            Ok(stats) => total.add(&stats),
            Err(failure) => {
                eprintln!("{failure}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{runs} seeds x {} steps in {:.1} s: {total}",
        args.steps,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
