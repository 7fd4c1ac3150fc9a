using NoLeaks.Cli;
using NoLeaks.Reporting;

return args.FirstOrDefault() switch
{
    "merge" => ReportCommand.Run(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error),
    "stacks" or "diff" or "ps" => Commands.Run(args, Console.Out, Console.Error),
    "--help" or "-h" or "help" => Commands.Help(Console.Out),
    _ => Commands.Usage(Console.Error),
};
