using System.Text;
using Analytics.Grains.Sketches;
using FsCheck;
using FsCheck.Fluent;
using Xunit.Abstractions;

namespace Analytics.Tests.Sketches;

public sealed class HyperLogLogTests(ITestOutputHelper output)
{
    [Theory]
    // Reference vectors of XXH64 with seed 0 (xxHash project / python-xxhash documentation).
    [InlineData("", 0xEF46DB3751D8E999UL)]
    [InlineData("a", 0xD24EC4F1A98C6E5BUL)]
    [InlineData("abc", 0x44BC2CF5AD770999UL)]
    [InlineData("Hello, World!", 0xC49AACF8080FE47FUL)]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0x856E843298F99AD7UL)]
    [InlineData("Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1UL)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x0B242D361FDA71BCUL)]
    public void XxHash64_matches_reference_vectors(string input, ulong expected)
    {
        Assert.Equal(expected, HyperLogLog.XxHash64(Encoding.UTF8.GetBytes(input)));
        Assert.Equal(expected, HyperLogLog.Hash(input));
    }

    [Fact]
    public void Hash_uses_utf8_for_short_and_long_strings()
    {
        foreach (string s in new[] { "zürich ✓", new string('é', 1000), new string('x', 300) + "日本" })
        {
            Assert.Equal(HyperLogLog.XxHash64(Encoding.UTF8.GetBytes(s)), HyperLogLog.Hash(s));
        }
        Assert.NotEqual(HyperLogLog.Hash("é"), HyperLogLog.Hash("e\u0301"));
    }

    [Fact]
    public void Counts_exactly_while_sparse()
    {
        var hll = new HyperLogLog();
        Assert.Equal(0, hll.Estimate());
        for (int i = 0; i < HyperLogLog.SparseLimit; i++)
        {
            hll.Add($"visitor-{i}");
            hll.Add($"visitor-{i / 2}"); // duplicates must not count
            Assert.Equal(i + 1, hll.Estimate());
        }
        Assert.True(hll.IsSparse);
        hll.Add("one more");
        Assert.False(hll.IsSparse);
    }

    [Fact]
    public void Exact_below_one_hundred_for_arbitrary_strings()
    {
        var arb = Gen.ListOf(ArbMap.Default.GeneratorFor<string>().Where(s => s is not null))
            .Where(list => list.Distinct().Count() < 100).ToArbitrary();
        Prop.ForAll(arb, (List<string> values) =>
        {
            var hll = new HyperLogLog();
            foreach (string v in values) hll.Add(v);
            Assert.Equal(values.Distinct(StringComparer.Ordinal).Count(), hll.Estimate());
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Theory]
    [InlineData(1_000, 0.03)]
    [InlineData(10_000, 0.03)]
    [InlineData(50_000, 0.03)]
    [InlineData(100_000, 0.02)]
    [InlineData(1_000_000, 0.02)]
    public void Dense_estimate_is_accurate(int distinct, double tolerance)
    {
        var hll = new HyperLogLog();
        for (int i = 0; i < distinct; i++) hll.Add($"user:{i}");
        double error = RelativeError(hll.Estimate(), distinct);
        output.WriteLine($"n={distinct}: estimate {hll.Estimate()}, relative error {error:P3}");
        Assert.True(Math.Abs(error) <= tolerance, $"n={distinct}: relative error {error:P3}");
    }

    [Fact]
    public void Estimate_is_accurate_across_hash_seeds()
    {
        // Guards against a lucky key set: several independent key families at 100k.
        double worst = 0;
        for (int family = 0; family < 5; family++)
        {
            var hll = new HyperLogLog();
            for (int i = 0; i < 100_000; i++) hll.AddHash(HyperLogLog.XxHash64(BitConverter.GetBytes(i), (ulong)family + 1));
            worst = Math.Max(worst, Math.Abs(RelativeError(hll.Estimate(), 100_000)));
        }
        output.WriteLine($"worst relative error over 5 families at 100k: {worst:P3}");
        Assert.True(worst <= 0.02, $"worst {worst:P3}");
    }

    [Fact]
    public void Merge_approximates_the_union_and_equals_a_single_sketch()
    {
        var left = new HyperLogLog();
        var right = new HyperLogLog();
        var all = new HyperLogLog();
        for (int i = 0; i < 60_000; i++) left.Add($"user:{i}");
        for (int i = 40_000; i < 100_000; i++) right.Add($"user:{i}");
        for (int i = 0; i < 100_000; i++) all.Add($"user:{i}");

        left.Merge(right);
        output.WriteLine($"union estimate {left.Estimate()} for 100000");
        Assert.Equal(all.Estimate(), left.Estimate());
        Assert.True(Math.Abs(RelativeError(left.Estimate(), 100_000)) <= 0.02);
        Assert.Equal(Serialise(all), Serialise(left));
    }

    [Theory]
    [InlineData(10, 20)]      // sparse + sparse, stays sparse
    [InlineData(400, 400)]    // sparse + sparse, union overflows into dense
    [InlineData(50, 5_000)]   // sparse + dense
    [InlineData(5_000, 50)]   // dense + sparse
    [InlineData(3_000, 7_000)] // dense + dense
    public void Merge_matches_single_sketch_in_every_mode(int leftCount, int rightCount)
    {
        var left = new HyperLogLog();
        var right = new HyperLogLog();
        var all = new HyperLogLog();
        for (int i = 0; i < leftCount; i++) { left.Add($"l{i}"); all.Add($"l{i}"); }
        for (int i = 0; i < rightCount; i++) { right.Add($"r{i}"); all.Add($"r{i}"); }
        left.Merge(right);
        Assert.Equal(all.IsSparse, left.IsSparse);
        Assert.Equal(all.Estimate(), left.Estimate());
        if (all.IsSparse) Assert.Equal(leftCount + rightCount, left.Estimate());
    }

    [Fact]
    public void Merge_with_itself_is_identity()
    {
        var hll = new HyperLogLog();
        for (int i = 0; i < 2_000; i++) hll.Add(i.ToString());
        long before = hll.Estimate();
        hll.Merge(hll);
        Assert.Equal(before, hll.Estimate());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(77)]
    [InlineData(HyperLogLog.SparseLimit)]
    [InlineData(250_000)]
    public void Serialisation_round_trips(int distinct)
    {
        var hll = new HyperLogLog();
        for (int i = 0; i < distinct; i++) hll.Add($"s{i}");
        byte[] bytes = Serialise(hll);
        var copy = HyperLogLog.ReadFrom(DDSketchTests.Reader(bytes));
        output.WriteLine($"n={distinct}: {bytes.Length} bytes, sparse={hll.IsSparse}");

        Assert.Equal(hll.IsSparse, copy.IsSparse);
        Assert.Equal(hll.Estimate(), copy.Estimate());
        Assert.Equal(bytes, Serialise(copy));
        Assert.True(bytes.Length <= 2 + 3 * HyperLogLog.RegisterCount / 4, $"{bytes.Length} bytes");

        hll.Add("extra");
        copy.Add("extra");
        Assert.Equal(hll.Estimate(), copy.Estimate());
    }

    [Fact]
    public void Clone_is_independent()
    {
        var hll = new HyperLogLog();
        hll.Add("a");
        var clone = hll.Clone();
        clone.Add("b");
        Assert.Equal(1, hll.Estimate());
        Assert.Equal(2, clone.Estimate());
    }

    [Fact]
    public void Bad_arguments_and_corrupt_input_throw()
    {
        var hll = new HyperLogLog();
        Assert.Throws<ArgumentNullException>(() => hll.Add(null!));
        Assert.Throws<ArgumentNullException>(() => HyperLogLog.Hash(null!));
        Assert.Throws<ArgumentNullException>(() => hll.Merge(null!));

        for (int i = 0; i < 1_000; i++) hll.Add(i.ToString());
        byte[] bytes = Serialise(hll);
        Assert.Throws<InvalidDataException>(() => HyperLogLog.ReadFrom(DDSketchTests.Reader(bytes[..100])));
        Assert.Throws<InvalidDataException>(() => HyperLogLog.ReadFrom(DDSketchTests.Reader([])));
        byte[] badMode = (byte[])bytes.Clone();
        badMode[1] = 7;
        Assert.Throws<InvalidDataException>(() => HyperLogLog.ReadFrom(DDSketchTests.Reader(badMode)));
        byte[] badRegister = (byte[])bytes.Clone();
        badRegister[2] = 0xFF; // first register would read 63 > 51
        Assert.Throws<InvalidDataException>(() => HyperLogLog.ReadFrom(DDSketchTests.Reader(badRegister)));
    }

    private static double RelativeError(long estimate, long truth) => (estimate - truth) / (double)truth;

    private static byte[] Serialise(HyperLogLog hll) => DDSketchTests.Serialise(hll.WriteTo);
}
