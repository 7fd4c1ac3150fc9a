using System.Reflection;
using System.Text;

namespace NoLeaks.Analysis;

/// <summary>Names types and compiler-generated methods the way a C# reader writes them.</summary>
internal static class TypeNames
{
    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(bool)] = "bool", [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte", [typeof(char)] = "char",
        [typeof(short)] = "short", [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint",
        [typeof(long)] = "long", [typeof(ulong)] = "ulong", [typeof(float)] = "float", [typeof(double)] = "double",
        [typeof(decimal)] = "decimal", [typeof(string)] = "string", [typeof(object)] = "object", [typeof(void)] = "void",
    };

    /// <summary><c>Dictionary&lt;string, int&gt;</c>, <c>Outer.Inner</c>: no namespace, C# keywords.</summary>
    public static string Display(Type type)
    {
        if (Keywords.TryGetValue(type, out var keyword))
        {
            return keyword;
        }

        if (type.IsArray)
        {
            return Display(type.GetElementType()!) + "[]";
        }

        var builder = new StringBuilder();
        if (type.IsNested && !type.IsGenericParameter && type.DeclaringType is { } outer)
        {
            builder.Append(Display(Outer(type, outer))).Append('.');
        }

        var name = type.Name;
        var tick = name.IndexOf('`');
        builder.Append(tick < 0 ? name : name[..tick]);
        if (type.IsGenericType)
        {
            // Generic arguments of the declaring types are listed on the innermost type; keep only this type's own.
            var all = type.GetGenericArguments();
            var inherited = type.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments().Length : 0;
            if (all.Length > inherited)
            {
                builder.Append('<').AppendJoin(", ", all.Skip(inherited).Select(Display)).Append('>');
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// The declaring type of a constructed nested type, with the arguments it holds for it: reflection gives the generic
    /// definition (<c>ConfiguredTaskAwaitable&lt;TResult&gt;</c> for <c>ConfiguredTaskAwaitable&lt;int&gt;.ConfiguredTaskAwaiter</c>).
    /// </summary>
    private static Type Outer(Type type, Type outer)
    {
        if (!outer.IsGenericTypeDefinition || type.IsGenericTypeDefinition || !type.IsConstructedGenericType)
        {
            return outer;
        }

        try
        {
            return outer.MakeGenericType(type.GetGenericArguments()[..outer.GetGenericArguments().Length]);
        }
        catch (ArgumentException)
        {
            return outer; // arguments that do not satisfy the outer type's constraints: named by its definition
        }
    }

    /// <summary>The namespace-qualified form of <see cref="Display"/>, used for filters.</summary>
    public static string Full(Type type)
    {
        var outermost = type;
        while (outermost.DeclaringType is not null)
        {
            outermost = outermost.DeclaringType;
        }

        var display = StripGenerics(Display(type));
        return string.IsNullOrEmpty(outermost.Namespace) ? display : outermost.Namespace + "." + display;
    }

    /// <summary>
    /// The method a reader wrote, from a compiler-generated name: <c>&lt;PumpAsync&gt;d__3</c> is <c>PumpAsync</c>,
    /// <c>&lt;Run&gt;b__0_1</c> a lambda in <c>Run</c>, <c>&lt;Run&gt;g__Loop|0_0</c> the local function <c>Loop</c> in <c>Run</c>.
    /// </summary>
    public static (string Display, string Full) AsyncMethod(Type stateMachineType)
    {
        // The state machine is nested in the type that declares the method (or in a closure class inside it).
        var (method, suffix) = Unmangle(stateMachineType.Name);
        return Qualify(stateMachineType.DeclaringType, method, suffix);
    }

    /// <summary>The method behind a delegate, with lambdas named by their enclosing method.</summary>
    public static (string Display, string Full) Delegate(MethodBase method)
    {
        var (name, suffix) = Unmangle(method.Name);
        return Qualify(method.DeclaringType, name, suffix);
    }

    private static (string Display, string Full) Qualify(Type? declaringType, string method, string suffix)
    {
        // Closure classes (<>c, <>c__DisplayClass0_0) are the compiler's; the reader's type is the one around them.
        var owner = declaringType;
        while (owner is not null && owner.Name.StartsWith('<'))
        {
            owner = owner.DeclaringType;
        }

        if (owner is null)
        {
            return (method + suffix, method);
        }

        return ($"{StripGenerics(Display(owner))}.{method}{suffix}", $"{Full(owner)}.{method}");
    }

    private static (string Method, string Suffix) Unmangle(string name)
    {
        if (!name.StartsWith('<'))
        {
            return (name, "");
        }

        // <<Outer>b__0_0>d: a lambda's state machine; unwrap the outer brackets first.
        var close = MatchingBracket(name);
        if (close < 0)
        {
            return (name, "");
        }

        var inner = name[1..close];
        var kind = close + 1 < name.Length ? name[close + 1] : ' ';
        if (inner.StartsWith('<'))
        {
            var (innerMethod, innerSuffix) = Unmangle(inner);
            return (innerMethod, innerSuffix);
        }

        return kind switch
        {
            'b' => (inner, " (lambda)"),
            'g' => (inner + "." + LocalFunctionName(name, close), " (local function)"),
            _ => (inner, ""),
        };
    }

    private static string LocalFunctionName(string name, int close)
    {
        // <Run>g__Loop|0_0
        var start = name.IndexOf("__", close, StringComparison.Ordinal);
        var end = name.IndexOf('|', close);
        return start >= 0 && end > start ? name[(start + 2)..end] : name;
    }

    private static int MatchingBracket(string name)
    {
        var depth = 0;
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] == '<')
            {
                depth++;
            }
            else if (name[i] == '>' && --depth == 0)
            {
                return i;
            }
        }

        return -1;
    }

    private static string StripGenerics(string display)
    {
        // Filters match names, not instantiations: Repo<Order>.Load is Repo.Load.
        var builder = new StringBuilder(display.Length);
        var depth = 0;
        foreach (var c in display)
        {
            if (c == '<')
            {
                depth++;
            }
            else if (c == '>')
            {
                depth--;
            }
            else if (depth == 0)
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
