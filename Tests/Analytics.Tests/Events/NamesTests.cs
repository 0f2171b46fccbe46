using Analytics.Events;

namespace Analytics.Tests.Events;

/// <summary>The string forms the HTTP layer uses for path parameters.</summary>
public sealed class NamesTests
{
    [Theory]
    [InlineData("temperature", true)]
    [InlineData("a.b:c/d-e_F9", true)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("temp erature", false)]
    [InlineData("tempé", false)]
    [InlineData("a\ud800", false)]
    public void IsValidMetric(string? metric, bool valid)
    {
        Assert.Equal(valid, Names.IsValidMetric(metric));
    }

    [Fact]
    public void Metric_length_limit()
    {
        Assert.True(Names.IsValidMetric(new string('m', 128)));
        Assert.Equal("metric is 129 characters long; the limit is 128", Names.ValidateMetric(new string('m', 129)));
        Assert.Equal("metric 'a b' contains U+0020 at position 1; use only A-Z, a-z, 0-9 and _ . : / -", Names.ValidateMetric("a b"));
        Assert.Equal("metric 'x😀' contains '😀' (U+1F600) at position 1; use only A-Z, a-z, 0-9 and _ . : / -", Names.ValidateMetric("x😀"));
    }

    [Fact]
    public void Source_rules_match_the_parser()
    {
        Assert.Null(Names.ValidateSource("dev-42"));
        Assert.Null(Names.ValidateSource(new string('é', 128)));
        Assert.Null(Names.ValidateSource("dev 42 ✓ 😀"));
        Assert.Equal("source is 257 UTF-8 bytes long; the limit is 256 bytes", Names.ValidateSource(new string('é', 128) + "a"));
        Assert.Equal("source is 257 UTF-8 bytes long; the limit is 256 bytes", Names.ValidateSource(string.Concat(Enumerable.Repeat("😀", 64)) + "a"));
        Assert.Equal("source must not be empty", Names.ValidateSource(""));
        Assert.Equal("source must not be empty", Names.ValidateSource(null));
        Assert.StartsWith("source contains the control character U+0085 at character 1", Names.ValidateSource("a\u0085"));
        Assert.StartsWith("source contains the control character U+000A", Names.ValidateSource("a\n"));
        Assert.StartsWith("source contains an unpaired UTF-16 surrogate", Names.ValidateSource("a\udc00"));
        Assert.False(Names.IsValidSource("a\u007F"));
        Assert.True(Names.IsValidSource("x", maxBytes: 1));
        Assert.False(Names.IsValidSource("é", maxBytes: 1));
    }

    [Fact]
    public void Id_rules()
    {
        Assert.Null(Names.ValidateId(null));
        Assert.True(Names.IsValidId(new string('i', 128)));
        Assert.True(Names.IsValidId(string.Concat(Enumerable.Repeat("😀", 128))));
        Assert.False(Names.IsValidId(string.Concat(Enumerable.Repeat("😀", 129))));
        Assert.Equal("id is 129 characters long; the limit is 128", Names.ValidateId(new string('i', 129)));
        Assert.StartsWith("id must not be empty", Names.ValidateId(""));
    }

    [Fact]
    public void Long_values_are_cut_in_messages()
    {
        string error = Names.ValidateMetric(new string('a', 200) + " ")!;

        Assert.Contains("'" + new string('a', 40) + "…'", error);
        Assert.True(error.Length < 150, error);
    }
}
