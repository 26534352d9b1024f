//! Decoding PNG and JPEG into RGB8, upright as their EXIF orientation says,
//! and the bilinear resize the pipeline uses (half-pixel centres, like
//! OpenCV's INTER_LINEAR; the Python reference implements the same formula).
//!
//! Every common form decodes: grayscale, palette, 16-bit and alpha PNG;
//! baseline, progressive and CMYK JPEG; EXIF orientation in a JPEG's APP1
//! segment or a PNG's eXIf chunk (phone photos are stored sideways).

/// The largest image accepted, in pixels (a decompression-bomb guard).
pub const MAX_PIXELS: usize = 4096 * 4096;

/// An RGB image, 3 bytes per pixel, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl Rgb {
    /// The pixel at (x, y).
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The sub-image [x0, x1) x [y0, y1) (clamped to the image).
    pub fn crop(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> Rgb {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        let (x0, y0) = (x0.min(x1), y0.min(y1));
        let (w, h) = (x1 - x0, y1 - y0);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in y0..y1 {
            let row = (y * self.width + x0) * 3;
            data.extend_from_slice(&self.data[row..row + w * 3]);
        }
        Rgb {
            width: w,
            height: h,
            data,
        }
    }

    /// The image as EXIF orientation `o` says to show it: 2 mirrors, 3 turns
    /// by 180 degrees, 4 flips, 5 transposes, 6 turns clockwise, 7
    /// transverses, 8 turns anticlockwise; anything else leaves it.
    pub fn oriented(&self, o: u8) -> Rgb {
        let (w, h) = (self.width, self.height);
        let (ow, oh) = if o >= 5 { (h, w) } else { (w, h) };
        // The stored pixel shown at (x, y).
        let source = |x: usize, y: usize| match o {
            2 => (w - 1 - x, y),
            3 => (w - 1 - x, h - 1 - y),
            4 => (x, h - 1 - y),
            5 => (y, x),
            6 => (y, h - 1 - x),
            7 => (w - 1 - y, h - 1 - x),
            8 => (w - 1 - y, x),
            _ => (x, y),
        };
        let mut data = Vec::with_capacity(self.data.len());
        for y in 0..oh {
            for x in 0..ow {
                let (sx, sy) = source(x, y);
                data.extend_from_slice(&self.get(sx, sy));
            }
        }
        Rgb {
            width: ow,
            height: oh,
            data,
        }
    }

    /// The image turned by 180 degrees.
    pub fn rotate180(&self) -> Rgb {
        let mut data = Vec::with_capacity(self.data.len());
        for px in self.data.chunks_exact(3).rev() {
            data.extend_from_slice(px);
        }
        Rgb {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

/// Decodes a PNG or JPEG (sniffed from its first bytes), turned upright.
pub fn decode(bytes: &[u8]) -> Result<Rgb, String> {
    let (img, exif) = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)?
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        decode_jpeg(bytes)?
    } else {
        return Err("the input is neither PNG nor JPEG".into());
    };
    Ok(match exif.as_deref().and_then(orientation) {
        Some(o) => img.oriented(o),
        None => img,
    })
}

/// The orientation (EXIF tag 0x0112, 1..=8) in a TIFF-structured EXIF
/// block, if it holds a valid one. Reads only IFD0's entries, in bounds.
pub fn orientation(tiff: &[u8]) -> Option<u8> {
    let big = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    for i in 0..entries {
        let entry = ifd.checked_add(2 + 12 * i)?;
        // Tag 0x0112, type SHORT (3), one value, stored in the entry itself.
        if u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3 && u32_at(entry + 4)? == 1 {
            let o = u16_at(entry + 8)?;
            return (1..=8).contains(&o).then_some(o as u8);
        }
    }
    None
}

fn check_size(width: usize, height: usize) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err("the image is empty".into());
    }
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(format!(
            "the image is {width}x{height}, over the {MAX_PIXELS}-pixel limit"
        ));
    }
    Ok(())
}

/// A decoded image and its EXIF block, if it carries one.
type Decoded = (Rgb, Option<Vec<u8>>);

fn decode_png(bytes: &[u8]) -> Result<Decoded, String> {
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: MAX_PIXELS * 8,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("PNG: {e}"))?;
    let (w, h) = {
        let info = reader.info();
        (info.width as usize, info.height as usize)
    };
    check_size(w, h)?;
    let size = reader
        .output_buffer_size()
        .ok_or("PNG: the image is too large")?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("PNG: {e}"))?;
    let buf = &buf[..frame.buffer_size()];
    let exif = reader.info().exif_metadata.as_ref().map(|e| e.to_vec());
    let mut data = Vec::with_capacity(w * h * 3);
    match frame.color_type {
        png::ColorType::Rgb => data.extend_from_slice(buf),
        png::ColorType::Rgba => {
            for p in buf.chunks_exact(4) {
                data.extend_from_slice(&composite(p[0], p[1], p[2], p[3]));
            }
        }
        png::ColorType::Grayscale => {
            for &g in buf {
                data.extend_from_slice(&[g, g, g]);
            }
        }
        png::ColorType::GrayscaleAlpha => {
            for p in buf.chunks_exact(2) {
                data.extend_from_slice(&composite(p[0], p[0], p[0], p[1]));
            }
        }
        png::ColorType::Indexed => return Err("PNG: palette was not expanded".into()),
    }
    let img = Rgb {
        width: w,
        height: h,
        data,
    };
    Ok((img, exif))
}

/// Refuses a frame whose sampling factors no encoder writes: a component
/// sampled more finely than the first, or factors that do not divide the
/// largest. The decoder's upsampler asserts on such layouts (found by
/// fuzzing), and a panic would end the task as a crash, not as bad input.
fn check_jpeg_sampling(bytes: &[u8]) -> Result<(), String> {
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            i += 1;
            continue;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF || marker == 0x01 || marker == 0xD8 || (0xD0..=0xD7).contains(&marker) {
            i += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let seg = bytes
                .get(i + 4..i + 2 + len)
                .ok_or("JPEG: truncated frame header")?;
            let n = usize::from(*seg.get(5).ok_or("JPEG: truncated frame header")?);
            let comps = seg
                .get(6..6 + 3 * n)
                .ok_or("JPEG: truncated frame header")?;
            let factors: Vec<(u8, u8)> = comps
                .chunks_exact(3)
                .map(|c| (c[1] >> 4, c[1] & 15))
                .collect();
            let (h0, v0) = *factors.first().ok_or("JPEG: a frame with no components")?;
            for &(h, v) in &factors {
                if h == 0 || v == 0 || h > h0 || v > v0 || h0 % h != 0 || v0 % v != 0 {
                    return Err(format!(
                        "JPEG: unsupported sampling factors {factors:?} (each must divide the first \
                         component's)"
                    ));
                }
            }
            return Ok(());
        }
        if marker == 0xDA {
            break;
        }
        i += 2 + len;
    }
    Ok(())
}

/// Alpha over white (text on a transparent background reads as on paper).
fn composite(r: u8, g: u8, b: u8, a: u8) -> [u8; 3] {
    let over =
        |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
    [over(r), over(g), over(b)]
}

fn decode_jpeg(bytes: &[u8]) -> Result<Decoded, String> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(16384)
        .set_max_height(16384);
    check_jpeg_sampling(bytes)?;
    let mut d = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    d.decode_headers().map_err(|e| format!("JPEG: {e:?}"))?;
    let (w, h) = d.dimensions().ok_or("JPEG: no dimensions")?;
    check_size(w, h)?;
    let data = d.decode().map_err(|e| format!("JPEG: {e:?}"))?;
    if data.len() != w * h * 3 {
        return Err("JPEG: unexpected output size".into());
    }
    let img = Rgb {
        width: w,
        height: h,
        data,
    };
    Ok((img, d.exif().cloned()))
}

/// Bilinear resize to `w` x `h`, half-pixel centres, edge clamped; returns
/// f32 channels in RGB order, row-major, values 0..=255.
pub fn resize(img: &Rgb, w: usize, h: usize) -> Vec<f32> {
    let sx = img.width as f32 / w as f32;
    let sy = img.height as f32 / h as f32;
    let mut out = Vec::with_capacity(w * h * 3);
    let axis = |dst: usize, scale: f32, len: usize| -> (usize, usize, f32) {
        let src = ((dst as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(len - 1);
        let i1 = (i0 + 1).min(len - 1);
        (i0, i1, src - i0 as f32)
    };
    for y in 0..h {
        let (y0, y1, fy) = axis(y, sy, img.height);
        for x in 0..w {
            let (x0, x1, fx) = axis(x, sx, img.width);
            let (a, b, c, d) = (
                img.get(x0, y0),
                img.get(x1, y0),
                img.get(x0, y1),
                img.get(x1, y1),
            );
            for ch in 0..3 {
                let top = f32::from(a[ch]) * (1.0 - fx) + f32::from(b[ch]) * fx;
                let bottom = f32::from(c[ch]) * (1.0 - fx) + f32::from(d[ch]) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    out
}

/// NCHW, BGR channel order (PP-OCR was trained on OpenCV's BGR), values
/// scaled to [-1, 1]: `(v / 255 - 0.5) / 0.5`; columns from `w` to `pad_w`
/// are zero.
pub fn to_chw_bgr(pixels: &[f32], w: usize, h: usize, pad_w: usize) -> Vec<f32> {
    let mut out = vec![0.0; 3 * h * pad_w];
    for y in 0..h {
        for x in 0..w {
            for (c, src) in [2usize, 1, 0].into_iter().enumerate() {
                let v = pixels[(y * w + x) * 3 + src];
                out[c * h * pad_w + y * pad_w + x] = (v / 255.0 - 0.5) / 0.5;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: usize, h: usize, f: impl Fn(usize, usize) -> [u8; 3]) -> Rgb {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&f(x, y));
            }
        }
        Rgb {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn resize_identity_and_halving() {
        let i = img(4, 2, |x, y| [(x * 10 + y) as u8, 0, 255]);
        let same = resize(&i, 4, 2);
        assert_eq!(same[0..3], [0.0, 0.0, 255.0]);
        assert_eq!(same[3 * 5], 11.0);
        let half = resize(&i, 2, 1);
        // Each output pixel averages a 2x2 block.
        assert_eq!(half[0], (0.0 + 10.0 + 1.0 + 11.0) / 4.0);
    }

    #[test]
    fn chw_bgr_scales_and_pads() {
        let px = vec![255.0, 0.0, 127.5];
        let t = to_chw_bgr(&px, 1, 1, 2);
        assert_eq!(t, vec![0.0, 0.0, -1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn crop_rotate_and_sniffing() {
        let i = img(3, 2, |x, y| [x as u8, y as u8, 0]);
        let c = i.crop(1, 0, 3, 2);
        assert_eq!((c.width, c.height), (2, 2));
        assert_eq!(c.get(0, 1), [1, 1, 0]);
        assert_eq!(i.rotate180().get(0, 0), [2, 1, 0]);
        assert!(
            decode(b"GIF89a")
                .unwrap_err()
                .contains("neither PNG nor JPEG")
        );
        assert!(
            decode(b"\x89PNG\r\n\x1a\n....")
                .unwrap_err()
                .starts_with("PNG")
        );
    }

    /// An EXIF block holding only an orientation, in either byte order.
    fn exif(o: u16, big: bool) -> Vec<u8> {
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut t = if big {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        t.extend(u32b(8));
        t.extend(u16b(2));
        // An unrelated tag first (ImageWidth, LONG), then the orientation.
        t.extend(u16b(0x0100));
        t.extend(u16b(4));
        t.extend(u32b(1));
        t.extend(u32b(640));
        t.extend(u16b(0x0112));
        t.extend(u16b(3));
        t.extend(u32b(1));
        t.extend(u16b(o));
        t.extend([0, 0]);
        t.extend(u32b(0));
        t
    }

    #[test]
    fn orientation_is_read_in_both_byte_orders_and_nothing_else_is_trusted() {
        for o in 1..=8 {
            assert_eq!(orientation(&exif(o, true)), Some(o as u8));
            assert_eq!(orientation(&exif(o, false)), Some(o as u8));
        }
        assert_eq!(orientation(&exif(9, true)), None);
        assert_eq!(orientation(&exif(0, false)), None);
        // Truncated anywhere, or an entry count far past the end.
        let whole = exif(6, true);
        for n in 0..whole.len() - 6 {
            assert_eq!(orientation(&whole[..n]), None, "{n} bytes");
        }
        let mut lying = whole.clone();
        lying[8..10].copy_from_slice(&u16::MAX.to_be_bytes());
        lying.truncate(30);
        assert_eq!(orientation(&lying), None);
        let mut far = whole;
        far[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(orientation(&far), None);
        assert_eq!(orientation(b"JFIF"), None);
    }

    #[test]
    fn orientations_turn_and_mirror_as_exif_defines() {
        let i = img(3, 2, |x, y| [x as u8, y as u8, 7]);
        assert_eq!(i.oriented(1), i);
        assert_eq!(i.oriented(3), i.rotate180());
        // Clockwise: the stored top-left corner is shown top-right.
        let cw = i.oriented(6);
        assert_eq!((cw.width, cw.height), (2, 3));
        assert_eq!(cw.get(1, 0), [0, 0, 7]);
        assert_eq!(cw.oriented(8), i);
        assert_eq!(i.oriented(8).get(0, 2), [0, 0, 7]);
        for o in [2, 4, 5, 7] {
            assert_eq!(i.oriented(o).oriented(o), i, "orientation {o} twice");
        }
        assert_eq!(i.oriented(2).get(0, 0), [2, 0, 7]);
        assert_eq!(i.oriented(4).get(0, 0), [0, 1, 7]);
        assert_eq!(i.oriented(7).get(0, 0), [2, 1, 7]);
    }
}
