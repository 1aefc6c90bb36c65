//! The recorder: row layout and values, extra columns, missing values, CSV
//! and Parquet output read back.

use std::any::Any;
use std::path::PathBuf;

use ogg_core::testing::{CallLog, FailAt, RecordingAgent, RecordingGrid, RecordingMarket};
use ogg_core::{
    Agent, DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment, GridAction, MarketAction,
    Result, Table, View,
};

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ogg-core-recorder-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 2 recording agents (each scaling a load by 1.5), a market clearing after 2
/// rounds, 3 grid steps of 60 s.
fn recorded_env() -> Environment {
    let log = CallLog::new();
    let mut a1 = RecordingAgent::new("a1", &log).scaling("load1", 1.5);
    a1.bus = Some("bus 1".into());
    let agents: Vec<Box<dyn Agent>> =
        vec![Box::new(RecordingAgent::new("a0", &log).scaling("load0", 1.5)), Box::new(a1)];
    let mut env = Environment::new(
        Box::new(RecordingGrid::new(&log, 60.0)),
        Box::new(RecordingMarket::new(&log, Some(2))),
        agents,
    );
    env.reset(Some(5)).unwrap();
    env.run(3).unwrap();
    env
}

#[test]
fn one_row_per_grid_step_market_round_and_agent_with_the_modules_values() {
    let env = recorded_env();
    let records = env.recorder().records();
    assert_eq!(records.n_rows(), 3 * 2 * 2);
    assert_eq!(
        records.column_names(),
        [
            "time_s", "grid_step", "market_round", "agent", "bus", "price", "quantity", "reward",
            "market_index", "market_calls"
        ]
    );
    let mut row = 0;
    for t in 0..3u64 {
        for r in 0..2u64 {
            for i in 0..2usize {
                let rec = records.row(row).unwrap();
                assert_eq!(rec.time_s, 60.0 * t as f64);
                assert_eq!((rec.grid_step as u64, rec.market_round as u64), (t, r));
                assert_eq!(rec.agent, format!("a{i}"));
                assert_eq!(rec.bus.as_deref(), if i == 1 { Some("bus 1") } else { None });
                assert_eq!(rec.price, Some(10.0 * t as f64 + r as f64));
                assert_eq!(rec.quantity, Some(i as f64));
                assert_eq!(rec.reward, 10.0 * t as f64 + r as f64);
                assert_eq!(
                    rec.extra,
                    vec![("market_index".to_string(), i as f64), ("market_calls".to_string(), (2 * t + r + 1) as f64)]
                );
                row += 1;
            }
        }
    }

    let grid = env.recorder().grid();
    assert_eq!(grid.n_rows(), 3);
    assert_eq!(grid.time_s, vec![0.0, 60.0, 120.0]);
    assert_eq!(grid.grid_step, vec![0, 1, 2]);
    assert_eq!(grid.market_rounds, vec![2, 2, 2]);
    assert_eq!(grid.market_cleared, vec![true; 3]);
    assert_eq!(grid.total_power_kw, vec![3.0; 3], "sum of the agents' ScaleLoad multipliers");
    assert_eq!(grid.min_voltage_pu, vec![1.0, 0.99, 0.98]);
    assert_eq!(grid.max_voltage_pu, vec![1.0; 3]);
    assert_eq!(grid.extra_names(), ["n_actions", "rounds_run"]);
    assert_eq!(grid.extra("n_actions").unwrap(), [2.0; 3]);
    assert_eq!(grid.extra("rounds_run").unwrap(), [2.0; 3]);
}

#[test]
fn csv_output_is_a_tidy_table() {
    let env = recorded_env();
    let dir = out_dir("csv");
    let written = env.recorder().write_csv_dir(&dir).unwrap();
    assert_eq!(written, vec![dir.join("records.csv"), dir.join("grid.csv")]);
    let records = std::fs::read_to_string(dir.join("records.csv")).unwrap();
    let lines: Vec<&str> = records.lines().collect();
    assert_eq!(lines.len(), 1 + 12);
    assert_eq!(lines[0], "time_s,grid_step,market_round,agent,bus,price,quantity,reward,market_index,market_calls");
    assert_eq!(lines[1], "0.0,0,0,a0,,0.0,0.0,0.0,0.0,1.0");
    assert_eq!(lines[12], "120.0,2,1,a1,bus 1,21.0,1.0,21.0,1.0,6.0");
    let grid = std::fs::read_to_string(dir.join("grid.csv")).unwrap();
    let lines: Vec<&str> = grid.lines().collect();
    assert_eq!(
        lines[0],
        "time_s,grid_step,market_rounds,market_cleared,converged,total_power_kw,total_power_kvar,losses_kw,\
         min_voltage_pu,max_voltage_pu,n_actions,rounds_run"
    );
    assert_eq!(lines[2], "60.0,1,2,true,true,3.0,0.0,0.0,0.99,1.0,2.0,2.0");
}

#[test]
fn csv_floats_read_back_bit_identical() {
    let values = [0.1 + 0.2, 1e-300, f64::MAX, -2.5e-7, 123456789.12345679];
    // Put awkward floats through the grid table's extra columns.
    let mut out = Vec::new();
    let mut table = ogg_core::Recorder::new();
    struct G(ogg_core::GridState, Vec<f64>);
    impl ogg_core::Grid for G {
        fn reset(&mut self, _: &View) -> Result<()> {
            Ok(())
        }
        fn step(&mut self, _: &View) -> Result<()> {
            Ok(())
        }
        fn state(&self) -> &ogg_core::GridState {
            &self.0
        }
        fn record_extra(&self, out: &mut Vec<(String, f64)>) {
            for (i, v) in self.1.iter().enumerate() {
                out.push((format!("v{i}"), *v));
            }
        }
        fn clone_box(&self) -> Box<dyn ogg_core::Grid> {
            Box::new(G(self.0.clone(), self.1.clone()))
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }
    let grid = G(Default::default(), values.to_vec());
    table.record_grid_step(0.0, 0, 1, true, &grid, &DoNothingMarket);
    table.grid().write_csv_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let data = text.lines().nth(1).unwrap();
    let cells: Vec<&str> = data.split(',').collect();
    for (i, v) in values.iter().enumerate() {
        let back: f64 = cells[10 + i].parse().unwrap();
        assert_eq!(back.to_bits(), v.to_bits(), "{}", cells[10 + i]);
    }
    // No voltages reported: min/max are missing (empty cells).
    assert_eq!((cells[8], cells[9]), ("", ""));
}

#[test]
fn missing_dispatch_and_bus_are_empty_cells() {
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(DoNothingAgent::new("idle"))];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(10.0)), Box::new(DoNothingMarket), agents);
    env.run(2).unwrap();
    let mut out = Vec::new();
    env.recorder().records().write_csv_to(&mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "time_s,grid_step,market_round,agent,bus,price,quantity,reward\n0.0,0,0,idle,,,,0.0\n10.0,1,0,idle,,,,0.0\n"
    );
    let rec = env.recorder().records().row(1).unwrap();
    assert_eq!((rec.price, rec.quantity, rec.bus), (None, None, None));
}

#[test]
fn recording_can_be_switched_off() {
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(DoNothingAgent::new("idle"))];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(10.0)), Box::new(DoNothingMarket), agents)
        .with_recording(false);
    env.run(5).unwrap();
    assert_eq!(env.recorder().records().n_rows(), 0);
    assert_eq!(env.recorder().grid().n_rows(), 0);
    env.set_recording(true);
    env.run(1).unwrap();
    assert_eq!(env.recorder().grid().grid_step, vec![5]);
}

/// An agent reporting extra columns: `price` (clashes with a base column) always,
/// `late` from grid step 2 on.
#[derive(Clone)]
struct ExtraAgent {
    step: usize,
}

impl Agent for ExtraAgent {
    fn name(&self) -> &str {
        "extra"
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        self.step = view.grid_step;
        Ok(())
    }
    fn set_grid_actions(&mut self, _: &View) -> Result<()> {
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &[]
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("price".into(), 1.0));
        if self.step >= 2 {
            out.push(("late".into(), self.step as f64));
        }
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[test]
fn extra_columns_are_filled_renamed_and_rolled_back() {
    let log = CallLog::new();
    let market = RecordingMarket::new(&log, Some(1)).failing_at(FailAt::new("step", Some(3), None));
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(ExtraAgent { step: 0 })];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(1.0)), Box::new(market), agents);
    env.run(3).unwrap();
    let records = env.recorder().records();
    assert_eq!(records.extra_names(), ["market_index", "extra_price", "late"]);
    let late = records.column("late").unwrap().as_float().unwrap().to_vec();
    assert!(late[0].is_nan() && late[1].is_nan());
    assert_eq!(late[2], 2.0);

    // A column first seen in a failed step disappears with the step's rows:
    // round 0 of step 2 records `late`, round 1 fails.
    let mut env = {
        let market = RecordingMarket::new(&log, Some(2)).failing_at(FailAt::new("step", Some(2), Some(1)));
        let agents: Vec<Box<dyn Agent>> = vec![Box::new(ExtraAgent { step: 0 })];
        Environment::new(Box::new(DoNothingGrid::new(1.0)), Box::new(market), agents)
    };
    env.run(2).unwrap();
    assert!(env.step().is_err());
    assert_eq!(env.recorder().records().extra_names(), ["market_index", "extra_price"]);
    assert_eq!(env.recorder().records().n_rows(), 4);
}

#[test]
fn rows_of_a_failed_step_are_removed_even_after_some_rounds_were_recorded() {
    let log = CallLog::new();
    let market = RecordingMarket::new(&log, Some(3)).failing_at(FailAt::new("step", Some(1), Some(2)));
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(ExtraAgent { step: 0 }), Box::new(ExtraAgent { step: 0 })];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(1.0)), Box::new(market), agents);
    env.run(1).unwrap();
    assert!(env.step().is_err());
    assert_eq!(env.recorder().records().n_rows(), 3 * 2);
    assert!(env.recorder().records().grid_step.iter().all(|&t| t == 0));
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_output_reads_back_with_the_same_values() {
    use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let env = recorded_env();
    let dir = out_dir("parquet");
    let written = env.recorder().write_parquet_dir(&dir).unwrap();
    assert_eq!(written, vec![dir.join("records.parquet"), dir.join("grid.parquet")]);

    let read = |name: &str| {
        let file = std::fs::File::open(dir.join(name)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        batches.into_iter().next().unwrap()
    };
    let batch = read("records.parquet");
    let records = env.recorder().records();
    assert_eq!(batch.num_rows(), records.n_rows());
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, records.column_names());
    let float = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().clone();
    assert_eq!(float("time_s").values().to_vec(), records.time_s);
    assert_eq!(float("price").values().to_vec(), records.price);
    assert_eq!(float("reward").values().to_vec(), records.reward);
    let steps = batch.column_by_name("grid_step").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(steps.values().iter().map(|&x| x as u64).collect::<Vec<_>>(), records.grid_step);
    let agents = batch.column_by_name("agent").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let buses = batch.column_by_name("bus").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    for r in 0..records.n_rows() {
        assert_eq!(agents.value(r), records.agent(r));
        match records.bus(r) {
            Some(bus) => assert_eq!(buses.value(r), bus),
            None => assert!(buses.is_null(r)),
        }
    }

    let grid_batch = read("grid.parquet");
    let grid = env.recorder().grid();
    assert_eq!(grid_batch.num_rows(), 3);
    let cleared = grid_batch.column_by_name("market_cleared").unwrap().as_any().downcast_ref::<BooleanArray>().unwrap();
    assert!((0..3).all(|r| cleared.value(r)));
    let vmin = grid_batch.column_by_name("min_voltage_pu").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(vmin.values().to_vec(), grid.min_voltage_pu);

    // Missing values are nulls.
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(DoNothingAgent::new("idle"))];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(10.0)), Box::new(DoNothingMarket), agents);
    env.run(2).unwrap();
    env.recorder().write_parquet_dir(&dir).unwrap();
    let batch = read("records.parquet");
    let price = batch.column_by_name("price").unwrap();
    assert_eq!(price.null_count(), 2);
}
