using Analytics.Grains.Sketches;
using FsCheck;
using FsCheck.Fluent;
using Xunit.Abstractions;

namespace Analytics.Tests.Sketches;

public sealed class DDSketchTests(ITestOutputHelper output)
{
    private const double Alpha = DDSketch.DefaultRelativeAccuracy;

    // Large enough that no finite double in [1e-9, double.MaxValue] forces a collapse at alpha = 0.01.
    private const int NoCollapseBuckets = 40_000;

    private static readonly double[] Quantiles =
    [
        0, 1e-4, 0.001, 0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.333, 0.4, 0.5, 0.6, 0.666, 0.7, 0.75, 0.8, 0.9, 0.95,
        0.99, 0.995, 0.999, 0.9999, 1,
    ];

    // Mixture covering exact zeros, sub-indexable values, both signs and magnitudes up to 1e300.
    private static readonly Gen<double> WideValue = Gen.Frequency(
        (1, Gen.Constant(0.0)),
        (1, Gen.Elements(1e-12, -3e-10, 1e-9, -1e-9, 1e300, -1e300, 1, -1)),
        (8, from sign in Gen.Elements(1.0, -1.0)
            from mantissa in Gen.Choose(1000, 9999)
            from exponent in Gen.Choose(-9, 299)
            select sign * mantissa / 1000.0 * Math.Pow(10, exponent)),
        (2, Gen.Choose(-1000, 1000).Select(i => (double)i)));

    // Each sign spans < 2048 buckets, so the default (collapsing) sketch keeps its full guarantee.
    private static readonly Gen<double> HugeButNarrowValue = Gen.Frequency(
        (1, Gen.Constant(0.0)),
        (4, from mantissa in Gen.Choose(1000, 9999)
            from exponent in Gen.Choose(285, 299)
            select mantissa / 1000.0 * Math.Pow(10, exponent)),
        (4, from mantissa in Gen.Choose(1000, 9999)
            from exponent in Gen.Choose(-3, 12)
            select -mantissa / 1000.0 * Math.Pow(10, exponent)));

    private static Arbitrary<double[]> ArraysOf(Gen<double> element, int maxLength = 1500) =>
        Gen.Choose(0, maxLength).SelectMany(n => Gen.ArrayOf(element, n)).ToArbitrary();

    private static readonly Config Quick = Config.QuickThrowOnFailure.WithMaxTest(150);

    [Fact]
    public void Quantiles_are_within_alpha_on_mixed_data_spanning_the_whole_range()
    {
        Prop.ForAll(ArraysOf(WideValue), (double[] data) =>
        {
            var sketch = new DDSketch(Alpha, NoCollapseBuckets);
            foreach (double x in data) sketch.Add(x);
            AssertAccurate(sketch, data, Alpha);
        }).Check(Quick);
    }

    [Fact]
    public void Quantiles_are_within_alpha_with_the_default_bucket_cap_on_huge_magnitudes()
    {
        Prop.ForAll(ArraysOf(HugeButNarrowValue), (double[] data) =>
        {
            var sketch = new DDSketch();
            foreach (double x in data) sketch.Add(x);
            Assert.False(sketch.HasCollapsed);
            AssertAccurate(sketch, data, Alpha);
        }).Check(Quick);
    }

    [Fact]
    public void Coarser_alpha_keeps_its_own_guarantee()
    {
        Prop.ForAll(ArraysOf(WideValue, 500), (double[] data) =>
        {
            var sketch = new DDSketch(0.05, NoCollapseBuckets);
            foreach (double x in data) sketch.Add(x);
            AssertAccurate(sketch, data, 0.05);
        }).Check(Quick);
    }

    [Fact]
    public void Collapsing_only_affects_the_smallest_magnitudes()
    {
        var random = new Random(1234);
        var data = new double[20_000];
        for (int i = 0; i < data.Length; i++)
        {
            // Half spread over 1e-9 .. 1e300 (forcing collapses), half in the top 15 decades that stay exact.
            double exponent = random.Next(2) == 0 ? random.NextDouble() * 309 - 9 : 285 + random.NextDouble() * 15;
            double magnitude = Math.Pow(10, exponent);
            data[i] = random.Next(10) switch { 0 => 0, < 5 => -magnitude, _ => magnitude };
        }
        var sketch = new DDSketch();
        foreach (double x in data) sketch.Add(x);
        Assert.True(sketch.HasCollapsed);

        // A bucket at least three below the top of its store is certainly not folded.
        double gamma = (1 + Alpha) / (1 - Alpha);
        double reach = Math.Pow(gamma, DDSketch.DefaultMaxBucketsPerStore - 3);
        double positiveFloor = data.Max() / reach;
        double negativeFloor = -data.Min() / reach;

        Array.Sort(data);
        int checkedCount = 0;
        for (int i = 0; i <= 1000; i++)
        {
            double q = i / 1000.0;
            double truth = TrueQuantile(data, q);
            double estimate = sketch.Quantile(q)!.Value;
            if (truth >= positiveFloor || -truth >= negativeFloor)
            {
                AssertWithin(estimate, truth, Alpha, q);
                checkedCount++;
            }
            else if (truth != 0)
            {
                // Folded values are reported at a larger magnitude but keep their sign.
                Assert.Equal(Math.Sign(truth), Math.Sign(estimate));
                Assert.True(Math.Abs(estimate) >= Math.Abs(truth) * (1 - Alpha), $"q={q}");
            }
        }
        Assert.True(checkedCount > 450, $"only {checkedCount} quantiles were in the guaranteed range");
    }

    [Fact]
    public void Extreme_finite_values_are_handled()
    {
        var sketch = new DDSketch();
        double[] data = [double.MaxValue, -double.MaxValue, double.Epsilon, 1e-300, 1e300, -1e300, 0];
        foreach (double x in data) sketch.Add(x);
        Array.Sort(data);
        Assert.Equal(double.MaxValue, sketch.Quantile(1));
        Assert.Equal(-double.MaxValue, sketch.Quantile(0));
        for (int i = 0; i < data.Length; i++)
        {
            double q = i / (double)(data.Length - 1);
            double estimate = sketch.Quantile(q)!.Value;
            Assert.True(double.IsFinite(estimate));
            if (Math.Abs(data[i]) >= DDSketch.MinIndexableValue) AssertWithin(estimate, data[i], Alpha, q);
            else Assert.Equal(0, estimate);
        }
    }

    [Fact]
    public void Lognormal_million_values_are_accurate_and_serialise_compactly()
    {
        var random = new Random(42);
        var data = new double[1_000_000];
        var sketch = new DDSketch();
        for (int i = 0; i < data.Length; i++)
        {
            // Box-Muller; mu = 3, sigma = 1.5 (a latency-like spread in milliseconds).
            double z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            data[i] = Math.Exp(3 + 1.5 * z);
            sketch.Add(data[i]);
        }
        Array.Sort(data);

        double worst = 0;
        for (int i = 0; i <= 10_000; i++)
        {
            double q = i / 10_000.0;
            double truth = TrueQuantile(data, q);
            worst = Math.Max(worst, Math.Abs(sketch.Quantile(q)!.Value - truth) / truth);
        }
        byte[] bytes = Serialise(sketch.WriteTo);
        output.WriteLine($"worst relative error {worst:G6}, serialized {bytes.Length} bytes");

        Assert.True(worst <= Alpha + 1e-12, $"worst relative error {worst}");
        Assert.True(bytes.Length < 3000, $"serialized size {bytes.Length}");
        Assert.Equal(1_000_000, DDSketch.ReadFrom(Reader(bytes)).Count);
    }

    [Fact]
    public void Merge_equals_adding_everything_to_one_sketch()
    {
        var arb = Gen.Zip(ArraysOf(WideValue, 3000).Generator, Gen.Choose(0, 3000)).ToArbitrary();
        Prop.ForAll(arb, ((double[] Data, int Split) input) =>
        {
            var (data, split) = input;
            split = Math.Min(split, data.Length);
            foreach (int buckets in new[] { DDSketch.DefaultMaxBucketsPerStore, 64 })
            {
                var whole = new DDSketch(Alpha, buckets);
                var left = new DDSketch(Alpha, buckets);
                var right = new DDSketch(Alpha, buckets);
                for (int i = 0; i < data.Length; i++)
                {
                    whole.Add(data[i]);
                    (i < split ? left : right).Add(data[i]);
                }
                left.Merge(right);
                AssertSameAnswers(whole, left);
            }
        }).Check(Quick);
    }

    [Fact]
    public void Merge_with_itself_doubles_every_count()
    {
        var sketch = new DDSketch();
        var doubled = new DDSketch();
        foreach (double x in new[] { -5.0, 0, 1, 2, 3, 1e300 })
        {
            sketch.Add(x);
            doubled.Add(x, 2);
        }
        sketch.Merge(sketch);
        AssertSameAnswers(doubled, sketch);
    }

    [Fact]
    public void Weighted_add_equals_repeated_add()
    {
        var weighted = new DDSketch();
        var repeated = new DDSketch();
        foreach (var (value, count) in new[] { (-3.5, 4L), (0.0, 2L), (7.25, 9L), (1e12, 1L) })
        {
            weighted.Add(value, count);
            for (int i = 0; i < count; i++) repeated.Add(value);
        }
        AssertSameAnswers(repeated, weighted);
    }

    [Fact]
    public void Serialisation_round_trips()
    {
        Prop.ForAll(ArraysOf(WideValue), (double[] data) =>
        {
            var sketch = new DDSketch();
            foreach (double x in data) sketch.Add(x);
            byte[] bytes = Serialise(sketch.WriteTo);
            var copy = DDSketch.ReadFrom(Reader(bytes));

            AssertSameAnswers(sketch, copy);
            Assert.Equal(sketch.HasCollapsed, copy.HasCollapsed);
            Assert.Equal(bytes, Serialise(copy.WriteTo));

            // The restored sketch must keep behaving identically.
            sketch.Add(42);
            copy.Add(42);
            AssertSameAnswers(sketch, copy);
        }).Check(Quick);
    }

    [Fact]
    public void Empty_sketch_answers_null_and_round_trips()
    {
        var sketch = new DDSketch();
        Assert.True(sketch.IsEmpty);
        Assert.Equal(0, sketch.Count);
        Assert.Null(sketch.Quantile(0.5));
        Assert.Null(sketch.Min);
        var copy = DDSketch.ReadFrom(Reader(Serialise(sketch.WriteTo)));
        Assert.True(copy.IsEmpty);
        Assert.Null(copy.Quantile(0));
    }

    [Fact]
    public void Clone_is_independent()
    {
        var sketch = new DDSketch();
        sketch.Add(1);
        var clone = sketch.Clone();
        clone.Add(1000, 10);
        Assert.Equal(1, sketch.Count);
        Assert.Equal(1, sketch.Quantile(1));
        Assert.Equal(11, clone.Count);
        Assert.Equal(1000, clone.Quantile(0.5));
    }

    [Fact]
    public void Bad_arguments_throw()
    {
        var sketch = new DDSketch();
        sketch.Add(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Quantile(-0.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Quantile(1.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Quantile(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch().Quantile(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add(double.PositiveInfinity));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add(double.NegativeInfinity));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add(1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add(1, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch(0.01, 0));
        Assert.Throws<ArgumentException>(() => sketch.Merge(new DDSketch(0.02)));
        Assert.Throws<ArgumentNullException>(() => sketch.Merge(null!));
        Assert.Equal(1, sketch.Count);
    }

    [Fact]
    public void Corrupt_or_truncated_input_is_rejected()
    {
        var sketch = new DDSketch();
        foreach (double x in new[] { -2.0, 0, 3, 4, 5 }) sketch.Add(x);
        byte[] bytes = Serialise(sketch.WriteTo);
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            Assert.Throws<InvalidDataException>(() => DDSketch.ReadFrom(Reader(bytes[..cut])));
        }
        Assert.Throws<InvalidDataException>(() => DDSketch.ReadFrom(Reader(Serialise(w =>
        {
            // Well-formed header, then a positive bucket far beyond anything a double can map to.
            w.Write((byte)1);
            w.Write(0.01);
            w.Write7BitEncodedInt(2048);
            w.Write((byte)0);
            w.Write7BitEncodedInt64(0);
            w.Write(1.0);
            w.Write(1.0);
            w.Write7BitEncodedInt(0);
            w.Write7BitEncodedInt(1);
            w.Write7BitEncodedInt64(2_000_000_000L << 1);
            w.Write7BitEncodedInt(1);
            w.Write7BitEncodedInt64(1);
        }))));
        byte[] badVersion = (byte[])bytes.Clone();
        badVersion[0] = 99;
        Assert.Throws<InvalidDataException>(() => DDSketch.ReadFrom(Reader(badVersion)));
    }

    private static double TrueQuantile(double[] sorted, double q) => sorted[(int)Math.Floor(q * (sorted.Length - 1))];

    private static void AssertAccurate(DDSketch sketch, double[] data, double alpha)
    {
        Assert.Equal(data.Length, sketch.Count);
        if (data.Length == 0)
        {
            Assert.Null(sketch.Quantile(0.5));
            return;
        }
        var sorted = (double[])data.Clone();
        Array.Sort(sorted);
        Assert.Equal(sorted[0], sketch.Quantile(0));
        Assert.Equal(sorted[^1], sketch.Quantile(1));
        foreach (double q in Quantiles) AssertWithin(sketch.Quantile(q)!.Value, TrueQuantile(sorted, q), alpha, q);
    }

    private static void AssertWithin(double estimate, double truth, double alpha, double q)
    {
        if (Math.Abs(truth) < DDSketch.MinIndexableValue)
        {
            Assert.True(Math.Abs(estimate) < DDSketch.MinIndexableValue, $"q={q}: {estimate} for near-zero {truth}");
            return;
        }
        // The 1e-12 slack absorbs floating-point rounding of log() exactly at bucket boundaries.
        double error = Math.Abs(estimate - truth) / Math.Abs(truth);
        Assert.True(error <= alpha + 1e-12, $"q={q}: estimate {estimate} vs truth {truth}, relative error {error}");
    }

    private static void AssertSameAnswers(DDSketch expected, DDSketch actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Min, actual.Min);
        Assert.Equal(expected.Max, actual.Max);
        for (int i = 0; i <= 200; i++) Assert.Equal(expected.Quantile(i / 200.0), actual.Quantile(i / 200.0));
        foreach (double q in Quantiles) Assert.Equal(expected.Quantile(q), actual.Quantile(q));
    }

    internal static byte[] Serialise(Action<BinaryWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) write(writer);
        return stream.ToArray();
    }

    internal static BinaryReader Reader(byte[] bytes) => new(new MemoryStream(bytes));
}
