using System.CommandLine;
using System.Text.Json;

namespace Analytics.Client.Cli;

/// <summary><c>analytics dead-letters</c> and <c>analytics cluster</c>: operational views.</summary>
internal static class AdminCommands
{
    public static Command DeadLetters(CliEnvironment env, Option<Uri> url)
    {
        var limit = new Option<int>("--limit")
        {
            Description = "How many of the newest dead letters to list (1–1000).",
            HelpName = "n",
            DefaultValueFactory = _ => 20,
        }.InRange(1, 1000);
        var json = CliOptions.Json();
        var command = new Command("dead-letters", "List the newest records of the dead-letter store: records that could not be processed, and why.")
        {
            limit, json,
        };
        command.SetHandler(env, url, async context =>
        {
            using AnalyticsHttpClient client = context.CreateClient();
            int n = context.Get(limit);
            if (context.Get(json))
            {
                return await QueryCommands.PrintRawAsync(context, client, AnalyticsRoutes.DeadLetters(n), notFound: null).ConfigureAwait(false);
            }

            DeadLetterPage page = await client.GetDeadLettersAsync(n, context.Cancellation).ConfigureAwait(false);
            if (page.Items.Count == 0)
            {
                await context.Out.WriteLineAsync("the dead-letter store is empty").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = new TextTable(
                TextTable.Left("time"), TextTable.Left("queue"), TextTable.Left("sequence"), TextTable.Left("reason"), TextTable.Left("data"));
            foreach (DeadLetter letter in page.Items)
            {
                table.Add(Fmt.Time(letter.Time), Fmt.Cell(letter.Queue, 30), Fmt.Cell(letter.Sequence, 30), Fmt.Cell(letter.Reason, 60), Fmt.Cell(letter.Data, 60));
            }

            table.WriteTo(context.Out);
            await context.Out.WriteLineAsync($"{page.Items.Count} of {page.Total} shown, newest first").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Cluster(CliEnvironment env, Option<Uri> url)
    {
        var command = new Command("cluster", "Show the cluster's silos and this silo's queues (the JSON of GET /api/cluster, indented).");
        command.SetHandler(env, url, async context =>
        {
            using AnalyticsHttpClient client = context.CreateClient();
            JsonElement cluster = await client.GetClusterAsync(context.Cancellation).ConfigureAwait(false);
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                cluster.WriteTo(writer);
            }

            await context.Out.WriteLineAsync(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan)).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
