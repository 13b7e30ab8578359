//! Writes the seed inputs of the stored-data targets, produced by prom's own writers, into
//! `corpus/<target>/seed_*` (run from `fuzz/`: `cargo run --example seeds`).

fn main() -> std::io::Result<()> {
    let targets = [
        ("decode_chunk", prom_fuzz::chunk::seeds()),
        ("read_index", prom_fuzz::index::seeds()),
    ];
    for (target, seeds) in targets {
        let dir = std::path::Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes)?;
        }
        println!("{target}: {} seeds", seeds.len());
    }
    Ok(())
}
