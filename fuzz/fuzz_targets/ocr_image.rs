//! The OCR plugin's image decoding (PNG and JPEG in every common form, EXIF
//! orientation): an error or an image whose pixel buffer matches its size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = ocr::image::decode(data) {
        assert_eq!(img.data.len(), img.width * img.height * 3);
        assert!(img.width > 0 && img.height > 0);
    }
});
