//! Structure-aware inputs for the JSON targets: byte mutations break JSON syntax almost always, so bytes that
//! are not JSON instead drive edits of a valid seed document (replace a value at a path picked by the bytes
//! with an extreme or wrong-typed one). That way most inputs reach the checks behind the JSON parser.

use serde_json::{Map, Value, json};

/// Values that sit on the edges of what a field may hold.
fn replacement(selector: u8, extra: u8) -> Value {
    match selector % 16 {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(i64::MAX),
        3 => json!(i64::MIN),
        4 => json!(-1),
        5 => json!(u64::MAX),
        6 => json!(1e300),
        7 => json!(""),
        8 => json!("99999999999999999999.99999"),
        9 => json!("-0.000001"),
        10 => json!("x".repeat(usize::from(extra) * 40)),
        11 => json!([]),
        12 => json!({}),
        13 => json!([i64::from(extra), -1, 0]),
        14 => json!(format!("{}", i64::from(extra) - 128)),
        _ => json!("\u{0}\u{202e}ü💶"),
    }
}

/// A JSON pointer to a value up to three levels deep, chosen by the two bytes.
fn pick_path(document: &Value, depth_seed: u8, extra: u8) -> String {
    let mut pointer = String::new();
    let mut node = document;
    let mut walk = depth_seed;
    for _ in 0..depth_seed % 4 {
        let index = usize::from(walk);
        walk = walk.rotate_left(3).wrapping_add(extra);
        let (segment, child) = match node {
            Value::Object(map) if !map.is_empty() => match map.iter().nth(index % map.len()) {
                Some((key, child)) => (key.replace('~', "~0").replace('/', "~1"), child),
                None => break,
            },
            Value::Array(items) if !items.is_empty() => {
                ((index % items.len()).to_string(), &items[index % items.len()])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&segment);
        node = child;
    }
    pointer
}

/// Edits `document` as `data` says: each pair of bytes walks to a value and replaces it or adds a key.
pub fn mutate_document(mut document: Value, data: &[u8]) -> Value {
    for chunk in data.chunks(3) {
        let [depth_seed, selector, extra] = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let pointer = pick_path(&document, depth_seed, extra);
        let Some(node) = document.pointer_mut(&pointer) else {
            continue;
        };
        if let (Value::Object(map), true) = (&mut *node, extra % 5 == 0) {
            map.insert(format!("k{}", extra % 7), replacement(selector, extra));
        } else {
            *node = replacement(selector, extra);
        }
    }
    document
}

/// The document an input stands for: the input itself when it is JSON, else an edited seed.
pub fn document(data: &[u8], seeds: &[&str]) -> Value {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        return value;
    }
    let Some((&pick, edits)) = data.split_first() else {
        return Value::Object(Map::new());
    };
    let seed = seeds[usize::from(pick) % seeds.len()];
    let base = serde_json::from_str(seed).expect("the seed documents are JSON");
    mutate_document(base, edits)
}
