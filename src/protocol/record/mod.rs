//! Record batches (magic 2): placeholder until the record module lands.
