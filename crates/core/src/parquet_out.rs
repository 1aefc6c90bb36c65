//! Parquet export of recorder tables (feature `parquet`).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::recorder::{Column, ColumnData};
use crate::{Error, Result};

/// Writes `columns` (each `n_rows` long) as one Parquet file. Missing values
/// (NaN floats, empty text) become nulls; integers are written as Int64.
pub(crate) fn write_parquet(columns: &[Column<'_>], n_rows: usize, path: &Path) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Output(format!("{}: {e}", path.display()));
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for column in columns {
        if column.len() != n_rows {
            return Err(fail(&format!("column {} has {} rows, expected {n_rows}", column.name, column.len())));
        }
        let (data_type, array): (DataType, ArrayRef) = match column.data {
            ColumnData::Float(values) => (
                DataType::Float64,
                Arc::new(values.iter().map(|&x| (!x.is_nan()).then_some(x)).collect::<Float64Array>()),
            ),
            ColumnData::UInt(values) => (
                DataType::Int64,
                Arc::new(values.iter().map(|&x| Some(x as i64)).collect::<Int64Array>()),
            ),
            ColumnData::Bool(values) => (
                DataType::Boolean,
                Arc::new(values.iter().map(|&x| Some(x)).collect::<BooleanArray>()),
            ),
            ColumnData::Text { codes, dictionary } => (
                DataType::Utf8,
                Arc::new(
                    codes
                        .iter()
                        .map(|&c| Some(dictionary[c as usize].as_str()).filter(|s| !s.is_empty()))
                        .collect::<StringArray>(),
                ),
            ),
        };
        fields.push(Field::new(column.name, data_type, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| fail(&e))?;
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(|e| fail(&e))?;
    writer.write(&batch).map_err(|e| fail(&e))?;
    writer.close().map_err(|e| fail(&e))?;
    Ok(())
}
