// A .NET Remoting (TcpChannel, binary formatter) server and client, to capture real [MS-NRTP] frames
// carrying [MS-NRBF] object graphs: the WCF peer's order objects (Contracts.cs, Data.cs), one-way calls,
// calls that throw, and every primitive type. The client writes the ground truth (truth.jsonl): one line
// per call with the arguments and the return value or exception as the .NET objects hold them, in the
// value formats of Truth.cs (captures/README.md).
// The "soap" client calls the same server through the SOAP formatter (content type text/xml), appending
// its lines to the same truth file.
// The "vectors" mode writes standalone BinaryFormatter streams that Remoting itself never sends (members
// without types, cycles, dictionaries, long runs of nulls) with their truth: tests/vectors/nrbf/. (Arrays
// with lower bounds are not among them: Mono's BinaryFormatter fails to write them.)
// Usage: mono RemotingPeer.exe server PORT  |  mono RemotingPeer.exe client|soap PORT TRUTH.jsonl
//        mono RemotingPeer.exe vectors DIR
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.Remoting;
using System.Runtime.Remoting.Channels;
using System.Runtime.Remoting.Channels.Tcp;
using System.Runtime.Remoting.Messaging;
using System.Runtime.Serialization.Formatters;
using System.Runtime.Serialization.Formatters.Binary;
using System.Text;
using System.Threading;

namespace Wirecap.Interop.Remoting
{
    public class OrderDesk : MarshalByRefObject
    {
        public static readonly ManualResetEvent Pinged = new ManualResetEvent(false);

        public string OpenOrder(int table, string waiter) { return "order for table " + table + " by " + waiter; }

        public SaveResult SaveOrder(Order order)
        {
            return new SaveResult
            {
                OrderId = order.Id, Revision = order.Revision + 1, ItemCount = order.Items.Count,
                SavedAt = new DateTime(2026, 11, 29, 10, 0, 0, DateTimeKind.Utc).AddTicks(order.Number),
            };
        }

        public Order GetOrder(int n, int items) { return Data.Order(n, items); }

        public List<Order> GetOrders(int count)
        {
            var orders = new List<Order>();
            for (int n = 1; n <= count; n++) orders.Add(Data.Order(n, n));
            return orders;
        }

        public object[] Echo(object[] values) { return values; }

        public void DeleteOrder(Guid id, string reason)
        {
            throw new InvalidOperationException("order " + id + " cannot be deleted: " + reason);
        }

        [OneWay]
        public void Ping(string terminal, long seq) { Pinged.Set(); }
    }

    [Serializable]
    public class Node
    {
        public string Name;
        public Node Next;
    }

    public static class RemotingPeer
    {
        static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
        static StreamWriter truth;
        static int call;

        public static int Main(string[] args)
        {
            if (args[0] == "vectors")
            {
                Vectors(args[1]);
                return 0;
            }
            int port = int.Parse(args[1]);
            if (args[0] == "server")
            {
                var props = new System.Collections.Hashtable { { "port", port }, { "bindTo", "127.0.0.1" } };
                var formatters = new BinaryServerFormatterSinkProvider { Next = new SoapServerFormatterSinkProvider() };
                ChannelServices.RegisterChannel(new TcpChannel(props, null, formatters), false);
                RemotingConfiguration.RegisterWellKnownServiceType(typeof(OrderDesk), "OrderDesk.rem", WellKnownObjectMode.Singleton);
                Console.WriteLine("listening");
                Console.Out.Flush();
                Thread.Sleep(Timeout.Infinite);
                return 0;
            }
            bool soap = args[0] == "soap";
            IClientChannelSinkProvider formatter = soap ? (IClientChannelSinkProvider)new SoapClientFormatterSinkProvider() : null;
            ChannelServices.RegisterChannel(new TcpChannel(null, formatter, null), false);
            var desk = (OrderDesk)Activator.GetObject(typeof(OrderDesk), "tcp://127.0.0.1:" + port + "/OrderDesk.rem");
            using (truth = new StreamWriter(args[2], soap, new UTF8Encoding(false)))
            {
                truth.NewLine = "\n";
                if (soap)
                {
                    call = 100;
                    Log("OpenOrder", L(2, "Петров"), () => desk.OpenOrder(2, "Петров"), formatter: "soap");
                    Log("Ping", L("T2", 3L), () => { desk.Ping("T2", 3L); return null; }, oneWay: true, formatter: "soap");
                }
                else
                {
                    Script(desk);
                }
            }
            return 0;
        }

        static void Script(OrderDesk desk)
        {
            Log("OpenOrder", L(1, "Иванов"), () => desk.OpenOrder(1, "Иванов"));
            Log("Ping", L("T1", 1L), () => { desk.Ping("T1", 1L); return null; }, oneWay: true);
            for (int n = 1; n <= 4; n++)
            {
                var order = Data.Order(n, n + 1);
                Log("SaveOrder", L(J.Order(order)), () => Result(desk.SaveOrder(order)));
            }
            Log("GetOrder", L(5, 2), () => J.Order(desk.GetOrder(5, 2)));
            Log("GetOrders", L(3), () => J.List(desk.GetOrders(3), J.Order));
            var large = Data.Order(7, 1500);  // ~100 KB: several TCP segments, a large object graph
            Log("SaveOrder", L(J.Order(large)), () => Result(desk.SaveOrder(large)));
            Log("DeleteOrder", L(J.Guid(Data.Id(3)), "закрыт"), () => { desk.DeleteOrder(Data.Id(3), "закрыт"); return null; });
            var values = new object[]
            {
                true, (byte)200, 'Ж', 1234.5600m, -0.5, 0.1f, (short)-12, 7, -5000000000L, (sbyte)-8,
                new DateTime(2026, 11, 29, 8, 0, 0, DateTimeKind.Utc).AddTicks(1), new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Unspecified),
                Data.Local(1), TimeSpan.FromMilliseconds(-1500.25), (ushort)65535, uint.MaxValue, ulong.MaxValue, null,
                "строка", Data.Id(42), new[] { 1, 2, 3 }, new[] { "a", null, "б" }, new byte[] { 0, 1, 255 },
                new decimal[] { 1.5m, -2m }, new int[2, 2] { { 1, 2 }, { 3, 4 } }, new int[][] { new[] { 1 }, new[] { 2, 3 } },
            };
            Log("Echo", L(Values(values)), () => Values(desk.Echo(values)));
            Log("Ping", L("T1", 2L), () => { desk.Ping("T1", 2L); return null; }, oneWay: true);
            OrderDesk.Pinged.WaitOne(0);
        }

        static void Vectors(string dir)
        {
            Directory.CreateDirectory(dir);
            var a = new Node { Name = "первый" };
            a.Next = new Node { Name = "второй", Next = a };  // a cycle: a -> b -> a
            var order = Data.Order(3, 2);
            var dictionary = new Dictionary<string, int> { { "один", 1 }, { "два", 2 } };
            var table = new System.Collections.Hashtable { { "ключ", 1.5m } };
            var nulls = new object[300];  // ObjectNullMultiple (more than 255 nulls in a row)
            nulls[299] = "последний";
            Vector(dir, "order_untyped", order, J.Order(order), FormatterTypeStyle.TypesWhenNeeded);
            Vector(dir, "order_typed", order, J.Order(order), FormatterTypeStyle.TypesAlways);
            Vector(dir, "cycle", a, L(a.Name, a.Next.Name), FormatterTypeStyle.TypesAlways);
            Vector(dir, "dictionary", dictionary, Pairs(dictionary), FormatterTypeStyle.TypesAlways);
            Vector(dir, "hashtable", table, Pairs(table), FormatterTypeStyle.TypesWhenNeeded);
            Vector(dir, "nulls", nulls, Value(nulls), FormatterTypeStyle.TypesAlways);
        }

        static List<object> Pairs(System.Collections.IDictionary d)
        {
            var pairs = new List<object>();
            foreach (System.Collections.DictionaryEntry e in d) pairs.Add(new JObj().Add("Key", Value(e.Key)).Add("Value", Value(e.Value)));
            return pairs;
        }

        // DIR/NAME.bin: the stream BinaryFormatter writes for VALUE; DIR/NAME.truth.json: the value as logged.
        static void Vector(string dir, string name, object value, object truthValue, FormatterTypeStyle style)
        {
            var formatter = new BinaryFormatter { TypeFormat = style };
            using (var file = File.Create(Path.Combine(dir, name + ".bin"))) formatter.Serialize(file, value);
            File.WriteAllText(Path.Combine(dir, name + ".truth.json"), J.Write(truthValue) + "\n", new UTF8Encoding(false));
        }

        static List<object> L(params object[] items) { return new List<object>(items); }

        static object Result(SaveResult r)
        {
            return new JObj().Add("OrderId", J.Guid(r.OrderId)).Add("Revision", r.Revision)
                .Add("SavedAt", J.Time(r.SavedAt)).Add("ItemCount", r.ItemCount);
        }

        // Each value as [type name, JSON form], so the test checks the primitive type as well as the value.
        static List<object> Values(object[] values)
        {
            var list = new List<object>();
            foreach (var v in values) list.Add(v == null ? null : new List<object> { v.GetType().FullName, Value(v) });
            return list;
        }

        static object Value(object v)
        {
            if (v is DateTime) return J.Time((DateTime)v) + " " + ((DateTime)v).Kind;
            if (v is TimeSpan) return J.Span((TimeSpan)v);
            if (v is decimal) return J.Dec((decimal)v);
            if (v is double) return J.Dbl((double)v);
            if (v is float) return J.Flt((float)v);
            if (v is Guid) return J.Guid((Guid)v);
            if (v is char) return v.ToString();
            if (v is byte[]) return J.Bytes((byte[])v);
            if (v is bool || v is string) return v;
            if (v is Array)
            {
                var items = new List<object>();
                foreach (var item in (Array)v) items.Add(item == null ? null : Value(item));
                return items;
            }
            return Convert.ToString(v, Inv);  // integers of every width, as text (ulong.MaxValue is not a double)
        }

        // One truth line per call: method, arguments, then the return value or the exception.
        static void Log(string method, List<object> arguments, Func<object> invoke, bool oneWay = false, string formatter = "binary")
        {
            var line = new JObj().Add("call", ++call).Add("method", method).Add("one_way", oneWay).Add("formatter", formatter)
                .Add("args", arguments);
            try
            {
                line.Add("return", invoke());
            }
            catch (Exception e)
            {
                line.Add("exception", new JObj().Add("type", e.GetType().FullName).Add("message", e.Message));
            }
            truth.WriteLine(J.Write(line));
            truth.Flush();
        }
    }
}
