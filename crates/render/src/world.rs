//! The closed world a template compiles in: its own source, the invoice as `invoice.json` and the fonts
//! built into the binary. Nothing else is reachable, so a template cannot read files or fetch packages.

use std::sync::{LazyLock, Mutex, PoisonError};

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Dict, Duration, Str, Value};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

/// Where the template sees the invoice.
pub(crate) const INVOICE_PATH: &str = "/invoice.json";
const TEMPLATE_PATH: &str = "/template.typ";

/// The fonts every template can use: Libertinus Serif (the default text face), New Computer Modern with its
/// math face, and DejaVu Sans Mono, all shipped by `typst-assets` under free licences.
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static FONTS: LazyLock<Fonts> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    Fonts {
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

/// The standard library with `sys.inputs.paged`, which tells a template whether to number its pages: a number
/// that depends on the layout makes Typst lay the document out twice, and [`crate::render_pdf`] asks for it only
/// when a first rendering took more than one page.
fn library(paged: bool) -> LazyHash<Library> {
    let inputs = Dict::from_iter([(Str::from("paged"), Value::Bool(paged))]);
    LazyHash::new(Library::builder().with_inputs(inputs).build())
}

static LIBRARY_UNPAGED: LazyLock<LazyHash<Library>> = LazyLock::new(|| library(false));
static LIBRARY_PAGED: LazyLock<LazyHash<Library>> = LazyLock::new(|| library(true));

fn file_id(path: &str) -> FileId {
    let path = VirtualPath::new(path).expect("a fixed absolute path");
    RootedPath::new(VirtualRoot::Project, path).intern()
}

pub(crate) fn template_id() -> FileId {
    file_id(TEMPLATE_PATH)
}

fn invoice_id() -> FileId {
    file_id(INVOICE_PATH)
}

/// Templates parsed at most: an installation renders with a handful of templates, and a batch of invoices
/// mostly with one.
const PARSED_TEMPLATES: usize = 8;

/// The most recently used parsed templates, newest last. Parsing the built-in template takes a noticeable share
/// of a render, and a template parsed once is also hashed once, which lets Typst find its memoised results.
static PARSED: Mutex<Vec<Source>> = Mutex::new(Vec::new());

/// The template parsed, from the cache when this text was parsed before.
fn parsed(template: &str) -> Source {
    // A panic elsewhere while the lock was held leaves a list that is still usable.
    let mut parsed = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(index) = parsed.iter().position(|source| source.text() == template) {
        let source = parsed.remove(index);
        parsed.push(source.clone());
        return source;
    }
    drop(parsed);
    // Parsed outside the lock, so renders with other templates are not held up; another thread may have
    // parsed the same text meanwhile, and then its copy is the one kept.
    let source = Source::new(template_id(), template.to_owned());
    let mut parsed = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = parsed.iter().find(|kept| kept.text() == template) {
        return kept.clone();
    }
    if parsed.len() == PARSED_TEMPLATES {
        parsed.remove(0);
    }
    parsed.push(source.clone());
    source
}

pub(crate) struct InvoiceWorld {
    source: Source,
    invoice: Bytes,
    paged: bool,
}

impl InvoiceWorld {
    pub(crate) fn new(template: &str, invoice_json: Vec<u8>) -> Self {
        InvoiceWorld {
            source: parsed(template),
            invoice: Bytes::new(invoice_json),
            paged: false,
        }
    }

    /// The same template and invoice with `sys.inputs.paged` true.
    pub(crate) fn paged(&self) -> Self {
        InvoiceWorld {
            source: self.source.clone(),
            invoice: self.invoice.clone(),
            paged: true,
        }
    }

    pub(crate) fn source_text(&self) -> &Source {
        &self.source
    }
}

impl World for InvoiceWorld {
    fn library(&self) -> &LazyHash<Library> {
        if self.paged { &LIBRARY_PAGED } else { &LIBRARY_UNPAGED }
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.book
    }

    fn main(&self) -> FileId {
        self.source.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.source.id() {
            Ok(self.source.clone())
        } else {
            Err(not_found(id))
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == invoice_id() {
            Ok(self.invoice.clone())
        } else if id == self.source.id() {
            Ok(Bytes::from_string(self.source.clone()))
        } else {
            Err(not_found(id))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.fonts.get(index).cloned()
    }

    /// An invoice shows its own dates; a rendering must not depend on the day it runs.
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

fn not_found(id: FileId) -> FileError {
    FileError::NotFound(id.vpath().get_with_slash().into())
}
