//! Redis's geohash math for the geo commands: longitude/latitude as a 52-bit
//! interleaved geohash (the sorted set score), the areas a radius or box
//! search scans (the cell and its eight neighbours), and distances on
//! Redis's sphere. Each step follows Redis's floating-point operations in
//! the same order, so scores, coordinates and distances are bit-identical.

/// Bits per coordinate (26 * 2 = 52, exact in a double).
pub const STEP_MAX: u8 = 26;
/// Latitude limits (EPSG:900913's square world).
pub const LAT_MIN: f64 = -85.05112878;
/// Latitude limits.
pub const LAT_MAX: f64 = 85.05112878;
/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
/// Longitude limits.
pub const LONG_MAX: f64 = 180.0;
/// Redis's earth radius (meters).
pub const EARTH_RADIUS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A geohash cell: its bits and how many bits per coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hash {
    /// Interleaved bits (latitude in even positions).
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

impl Hash {
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A coordinate range.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
}

/// A cell's extent.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    /// Longitudes.
    pub lon: Range,
    /// Latitudes.
    pub lat: Range,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

fn interleave(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave(v: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (v, v >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// Encodes a point in the given ranges at `step` bits per coordinate;
/// `None` outside the ranges or the geo limits.
pub fn encode_in(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    lat_off *= (1u64 << step) as f64;
    lon_off *= (1u64 << step) as f64;
    Some(Hash {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

/// Encodes a point with the geo limits at `step` bits per coordinate.
pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in(LONG_RANGE, LAT_RANGE, lon, lat, step)
}

/// The 52-bit score of a point (`None` outside the limits).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(lon, lat, STEP_MAX).map(align52)
}

/// A cell's bits aligned to 52 bits (a score).
pub fn align52(h: Hash) -> u64 {
    h.bits << (52 - u32::from(h.step) * 2)
}

/// The extent of a cell in the given ranges.
pub fn decode_in(lon_r: Range, lat_r: Range, h: Hash) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let sep = deinterleave(h.bits);
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let cells = (1u64 << h.step) as f64;
    Some(Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) * 1.0 / cells) * lat_scale,
            max: lat_r.min + ((f64::from(ilat) + 1.0) * 1.0 / cells) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) * 1.0 / cells) * lon_scale,
            max: lon_r.min + ((f64::from(ilon) + 1.0) * 1.0 / cells) * lon_scale,
        },
    })
}

/// The extent of a cell with the geo limits.
pub fn decode(h: Hash) -> Option<Area> {
    decode_in(LONG_RANGE, LAT_RANGE, h)
}

/// The point a score stands for (its cell's centre, clamped), as Redis's
/// `decodeGeohash`.
pub fn point_of(score: f64) -> Option<(f64, f64)> {
    let area = decode(Hash {
        bits: score as u64,
        step: STEP_MAX,
    })?;
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((lon, lat))
}

/// GEOHASH's 11-character string of a point (standard ±90 latitude range).
pub fn hash_string(lon: f64, lat: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let h = encode_in(
        LONG_RANGE,
        Range {
            min: -90.0,
            max: 90.0,
        },
        lon,
        lat,
        26,
    )?;
    let mut out = [0u8; 11];
    for (i, c) in out.iter_mut().enumerate() {
        let idx = if i == 10 {
            0
        } else {
            ((h.bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
        };
        *c = ALPHABET[idx];
    }
    Some(out)
}

/// Longitude bits (odd positions of the interleaving).
const X_BITS: u64 = 0xaaaaaaaaaaaaaaaa;
/// Latitude bits (even positions).
const Y_BITS: u64 = 0x5555555555555555;

/// Moves `h` one cell along the axis whose bits are `axis` (`X_BITS` or
/// `Y_BITS`): +1, -1, or not at all for 0. Adding one to interleaved bits
/// fills the other axis's positions with ones so the carry crosses them.
fn move_along(h: &mut Hash, d: i8, axis: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(h.step) * 2;
    let mut v = h.bits & axis;
    let other = h.bits & !axis;
    let zz = !axis >> shift;
    if d > 0 {
        v = v.wrapping_add(zz + 1);
    } else {
        v |= zz;
        v = v.wrapping_sub(zz + 1);
    }
    v &= axis >> shift;
    h.bits = v | other;
}

/// The eight neighbours, in Redis's scan order after the cell itself:
/// north, south, east, west, north-east, north-west, south-east, south-west.
fn neighbors(h: Hash) -> [Hash; 8] {
    let moved = |dx: i8, dy: i8| {
        let mut n = h;
        move_along(&mut n, dx, X_BITS);
        move_along(&mut n, dy, Y_BITS);
        n
    };
    [
        moved(0, 1),
        moved(0, -1),
        moved(1, 0),
        moved(-1, 0),
        moved(1, 1),
        moved(-1, 1),
        moved(1, -1),
        moved(-1, -1),
    ]
}

/// What a search covers.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A radius (in the unit).
    Radius(f64),
    /// Width and height (in the unit).
    Box(f64, f64),
}

/// A search: centre, shape, and the unit's meters.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// Centre longitude.
    pub lon: f64,
    /// Centre latitude.
    pub lat: f64,
    /// The shape.
    pub shape: Shape,
    /// Meters per unit.
    pub conversion: f64,
}

fn steps_by_radius(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

impl Search {
    /// The bounding box `[min_lon, min_lat, max_lon, max_lat]`.
    fn bounds(&self) -> [f64; 4] {
        let (h, w) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box(w, h) => (h / 2.0, w / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS);
        let top = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The score ranges `[min, max)` to scan, in Redis's order (the cell,
    /// then its neighbours; dropped or repeated ones skipped).
    pub fn score_ranges(&self) -> Vec<(u64, u64)> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = steps_by_radius(radius, self.lat);
        let Some(mut hash) = encode(self.lon, self.lat, steps) else {
            return Vec::new();
        };
        let mut near = neighbors(hash);
        let cell = |h: Hash| {
            decode(h).unwrap_or(Area {
                lon: Range { min: 0.0, max: 0.0 },
                lat: Range { min: 0.0, max: 0.0 },
            })
        };
        let decrease = cell(near[0]).lat.max < max_lat
            || cell(near[1]).lat.min > min_lat
            || cell(near[2]).lon.max < max_lon
            || cell(near[3]).lon.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            if let Some(h) = encode(self.lon, self.lat, steps) {
                hash = h;
                near = neighbors(hash);
            }
        }
        let area = cell(hash);
        let zero = Hash { bits: 0, step: 0 };
        if steps >= 2 {
            // [N, S, E, W, NE, NW, SE, SW]
            if area.lat.min < min_lat {
                near[1] = zero;
                near[7] = zero;
                near[6] = zero;
            }
            if area.lat.max > max_lat {
                near[0] = zero;
                near[4] = zero;
                near[5] = zero;
            }
            if area.lon.min < min_lon {
                near[3] = zero;
                near[7] = zero;
                near[5] = zero;
            }
            if area.lon.max > max_lon {
                near[2] = zero;
                near[6] = zero;
                near[4] = zero;
            }
        }
        let all = std::iter::once(hash).chain(near);
        let mut out = Vec::with_capacity(9);
        let mut last: Option<Hash> = None;
        for h in all {
            if h.is_zero() || last == Some(h) {
                continue;
            }
            let mut next = h;
            next.bits += 1;
            out.push((align52(h), align52(next)));
            last = Some(h);
        }
        out
    }

    /// The distance (meters) of a point when it lies inside the shape.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box(w, h) => {
                let (wm, hm) = (w * self.conversion, h * self.conversion);
                if lat_distance(lat, self.lat) > hm / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > wm / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Redis's haversine distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (deg_rad(lon1), deg_rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_scores_and_hash_as_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo → score 3479099956230698
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        let (lon, lat) = point_of(3479099956230698.0).expect("decodes");
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&hash_string(lon, lat).expect("hash"), b"sqc8b49rny0");
        // GEODIST Sicily Palermo Catania → 166274.1516 (between decoded points).
        let catania = score_of(15.087269, 37.502669).expect("in range");
        let (lon2, lat2) = point_of(catania as f64).expect("decodes");
        let d = distance(lon, lat, lon2, lat2);
        assert_eq!(format!("{:.4}", d), "166274.1516");
        assert_eq!(score_of(181.0, 0.0), None);
    }
}
