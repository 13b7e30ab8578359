//! Rule unit tests in promtool's format (`promtool test rules`): input series in the expanding
//! notation, rule groups evaluated on a simulated clock, and the alerts and query results
//! expected at given times.

mod file;
mod run;

pub use file::{
    AlertTestCase, ExpectedAlert, ExpectedSample, InputSeries, PromqlTestCase, TestFile,
    TestFileError, TestGroup, load_test_file, parse_test_file,
};
pub use run::{
    ExpanderFactory, FileOutcome, GroupOutcome, UnitTestOptions, run_test_file, run_test_files,
    run_tests,
};
