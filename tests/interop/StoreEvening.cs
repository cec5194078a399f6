// The store's scripted evening and its ground truth: `peer.exe server store PORT WORKDIR` is the main
// cash (writes orders.json when stopped), `peer.exe client store PORT WORKDIR` runs both terminals,
// step by step, writing truth.jsonl (one line per step, in step order; format in captures/README.md).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.ServiceModel;
using System.Text;

namespace Wirecap.Interop.Store
{
    public class Dish
    {
        public readonly string Name;
        public readonly Guid Id;
        public readonly decimal Price;

        public Dish(string name, int id, decimal price)
        {
            Name = name;
            Id = Data.Id(700000 + id);
            Price = price;
        }
    }

    public class Evening
    {
        // Addresses on loopback; the live tests put each peer in its own network namespace and set them.
        static readonly string ServerLink = Environment.GetEnvironmentVariable("STORE_SERVER_LINK") ?? "http://127.0.0.3:8080";
        static readonly string MainCashHost = Environment.GetEnvironmentVariable("STORE_MAIN_CASH") ?? "127.0.0.1";
        static readonly Dish Borsch = new Dish("Борщ", 1, 350.00m);
        static readonly Dish Mors = new Dish("Морс клюквенный", 2, 120.00m);
        static readonly Dish Tea = new Dish("Чай чёрный", 3, 90.00m);
        static readonly Dish Pelmeni = new Dish("Пельмени", 4, 420.00m);
        static readonly Dish Olivier = new Dish("Салат «Оливье»", 5, 290.00m);
        static readonly Dish Bliny = new Dish("Блины с икрой", 6, 650.00m);
        static readonly Dish Shashlik = new Dish("Шашлык из свинины, кг", 7, 1200.00m);
        static readonly Dish Kvass = new Dish("Квас", 8, 80.00m);

        readonly Terminal t1, t2;
        readonly StreamWriter truth;
        int step;

        Evening(Terminal t1, Terminal t2, StreamWriter truth)
        {
            this.t1 = t1;
            this.t2 = t2;
            this.truth = truth;
        }

        public static int Run(string role, string port, string work)
        {
            var uri = "net.tcp://" + MainCashHost + ":" + port + "/MainCash";
            if (RemotingStore.Enabled)
            {
                uri = "tcp://" + MainCashHost + ":" + port + "/MainCash.rem";
                if (role == "server")
                {
                    RemotingStore.Serve(int.Parse(port), work);
                    MainCash.WriteOpenOrders(Path.Combine(work, "orders.json"));
                    return 0;
                }
                RemotingStore.Listen();
            }
            else if (role == "server")
            {
                var host = new ServiceHost(typeof(MainCash));
                host.AddServiceEndpoint(typeof(IMainCash), Peer.Tcp(TransferMode.Buffered), uri);
                Peer.Serve(host, work);
                MainCash.WriteOpenOrders(Path.Combine(work, "orders.json"));
                return 0;
            }
            ServicePointManager.Expect100Continue = false;  // post the body with the head, as iikoFront does
            using (var truth = new StreamWriter(Path.Combine(work, "truth.jsonl"), false, new UTF8Encoding(false)))
            {
                truth.NewLine = "\n";
                // One after the other: Mono's server fails sessions whose first messages arrive at once.
                var t1 = new Terminal("T1", J.Guid(Data.Id(9001)).ToString(), "ivanova", 1, uri, ServerLink);
                var t2 = new Terminal("T2", J.Guid(Data.Id(9002)).ToString(), "petrov", 2, uri, ServerLink);
                new Evening(t1, t2, truth).Script();
                t1.Close();
                t2.Close();
            }
            return 0;
        }

        // 19:00 Moscow time plus four minutes a step.
        DateTime Clock() { return new DateTime(2026, 11, 29, 19, 0, 0, DateTimeKind.Local).AddMinutes(4 * step); }

        void Script()
        {
            t1.Link.Call("authorization", "authenticate", x => x.WriteElementString("login", "ivanova"));
            t2.Link.Call("authorization", "authenticate", x => x.WriteElementString("login", "petrov"));
            var o12 = Open(t1, 12, 5, "Зал 1", "Иванова Анна", 2);
            Add(t1, o12, Borsch, 2m);
            Add(t1, o12, Mors, 2m);
            var tea = Add(t1, o12, Tea, 1m);
            DeleteNew(t1, o12, tea);
            Print(t1, o12, "unlock");

            var o13 = Open(t2, 13, 7, "Веранда", "Петров Сергей", 4);
            Add(t2, o13, Pelmeni, 4m);
            Add(t2, o13, Olivier, 2m);
            Print(t2, o13, "unlock");

            Add(t1, o12, Bliny, 1m, "lock");
            Print(t1, o12);
            DeletePrinted(t1, o12, o12.Items.First(i => i.Product == Mors.Name), "Гость отказался");
            Guests(t1, o12, 3, "unlock");

            var o14 = Open(t1, 14, 3, "Зал 1", "Иванова Анна", 1);
            var shashlik = Add(t1, o14, Shashlik, 0.350m);
            Add(t1, o14, Kvass, 1m);
            Comment(t1, o14, shashlik, "без лука", "unlock");

            var paid = t2.Events.Orders[o12.Id];  // T2 changes the copy the main cash pushed to it
            Move(t2, paid, 8, "Зал 2", "lock");
            Precheque(t2, paid);
            Pay(t2, paid, "unlock");

            Guests(t2, o13, 5, "lock");
            Add(t2, o13, Tea, 5m, "unlock");
        }

        Order Open(Terminal t, int number, int table, string hall, string waiter, int guests)
        {
            var o = new Order
            {
                Id = Data.Id(600000 + number), Number = number, Status = "NEW", OpenTime = Clock().AddMinutes(4).ToUniversalTime(),
                Tables = new List<Table> { new Table { Num = table, Name = hall, Id = Data.Id(800000 + table) } },
                Waiter = waiter, Guests = guests, Items = new List<OrderItem>(),
            };
            Step(t, o, "lock", "orderOpened", a => a.Add("numGuests", guests.ToString()).Add("openTime", J.Time(o.OpenTime))
                .Add("isBanquet", "false"));
            return o;
        }

        OrderItem Add(Terminal t, Order o, Dish dish, decimal amount, string lockChange = null)
        {
            var item = new OrderItem
            {
                Id = Data.Id(o.Number * 1000 + o.Items.Count), Product = dish.Name, ProductId = dish.Id, Amount = amount,
                Price = dish.Price, Guest = 1 + o.Items.Count % o.Guests, Course = dish.Price >= 300m ? 2 : 1,
            };
            Step(t, o, lockChange, "addItemToOrder", a =>
            {
                o.Items.Add(item);
                Lines(a, new[] { item });
            });
            return item;
        }

        void DeleteNew(Terminal t, Order o, OrderItem item)
        {
            Step(t, o, null, "deletedNewItems", a =>
            {
                item.Deleted = true;
                item.DelMethod = "WithoutWriteoff";
                Lines(a, new[] { item });
            });
        }

        void DeletePrinted(Terminal t, Order o, OrderItem item, string reason)
        {
            Step(t, o, null, "deletedPrintedItems", a =>
            {
                item.Deleted = true;
                item.DelMethod = "WithWriteoff";
                Lines(a, new[] { item }).Add("reason", reason).Add("operationWithWriteoff", "true")
                    .Add("employee", "Сидорова Ольга");
            });
        }

        // A service cheque: every line not yet printed goes to the kitchen.
        void Print(Terminal t, Order o, string lockChange = null)
        {
            Step(t, o, lockChange, "serviceChequeForDishesPrinted", a =>
            {
                var lines = o.Items.Where(i => !i.Printed && !i.Deleted).ToList();
                foreach (var i in lines)
                {
                    i.Printed = true;
                    i.PrintTime = Clock().ToUniversalTime();
                }
                a.Add("dishes", string.Join(", ", lines.Select(i => i.Product))).Add("rowCount", lines.Count.ToString())
                    .Add("sum", J.Dec(Sum(lines)));
            });
        }

        void Guests(Terminal t, Order o, int guests, string lockChange)
        {
            Step(t, o, lockChange, "changedOrderGuestCount", a =>
            {
                o.Guests = guests;
                a.Add("numGuests", guests.ToString());
            });
        }

        void Move(Terminal t, Order o, int table, string hall, string lockChange)
        {
            var from = o.Tables[0].Num;
            Step(t, o, lockChange, "orderMoved", a =>
            {
                o.Tables = new List<Table> { new Table { Num = table, Name = hall, Id = Data.Id(800000 + table) } };
                a.Add("comment", "стол " + from + " → стол " + table);
            });
        }

        void Precheque(Terminal t, Order o)
        {
            Step(t, o, null, "orderPrechequed", a =>
            {
                o.Status = "BILL";
                Totals(a, o).Add("prechequeTime", J.Time(Clock()));
            });
        }

        void Pay(Terminal t, Order o, string lockChange)
        {
            Step(t, o, lockChange, "orderPaid", a =>
            {
                o.Status = "CLOSED";
                Totals(a, o);
            });
        }

        // A change iiko writes no UserEvent for: only the sync carries it.
        void Comment(Terminal t, Order o, OrderItem item, string text, string lockChange)
        {
            Step(t, o, lockChange, null, a => item.Comment = text);
        }

        static JObj Lines(JObj a, OrderItem[] lines)
        {
            return a.Add("dishes", string.Join(", ", lines.Select(i => i.Product)))
                .Add("rowCount", J.Dec(lines.Sum(i => i.Amount))).Add("sum", J.Dec(Sum(lines)));
        }

        static JObj Totals(JObj a, Order o)
        {
            var sum = J.Dec(Sum(o.Items.Where(i => !i.Deleted)));
            return a.Add("sum", sum).Add("orderSumAfterDiscount", sum);
        }

        public static decimal Sum(IEnumerable<OrderItem> lines) { return Math.Round(lines.Sum(i => i.Amount * i.Price), 2); }

        Terminal Other(Terminal t) { return t == t1 ? t2 : t1; }

        // One step: lock if asked, apply the change, post its UserEvent (if iiko writes one), sync the whole
        // order, unlock if asked; each push to the other terminal is awaited, so the wire follows the script.
        void Step(Terminal t, Order o, string lockChange, string eventType, Action<JObj> change)
        {
            step++;
            var other = Other(t).Events;
            if (lockChange == "lock")
            {
                t.Lock(o);
                other.Await(() => other.Locks.ContainsKey(o.Id), "lock " + o.Number);
            }
            var specific = new JObj();
            change(specific);
            JObj userEvent = null;
            if (eventType != null)
            {
                var attributes = new JObj().Add("orderId", J.Guid(o.Id)).Add("orderNum", o.Number.ToString())
                    .Add("tableNum", o.Tables[0].Num.ToString()).Add("waiter", o.Waiter);
                attributes.AddRange(specific);
                attributes.Add("terminal", t.Id);
                userEvent = new JObj().Add("type", eventType).Add("attributes", attributes);
                PostEvent(t, eventType, attributes);
            }
            t.Sync(o);
            other.Await(() => other.Orders.ContainsKey(o.Id) && other.Orders[o.Id].SyncRevision == o.SyncRevision,
                "order " + o.Number + " revision " + o.SyncRevision);
            if (lockChange == "unlock")
            {
                t.Unlock(o);
                other.Await(() => !other.Locks.ContainsKey(o.Id), "unlock " + o.Number);
            }
            truth.WriteLine(J.Write(new JObj().Add("step", step).Add("terminal", t.Name).Add("order_id", J.Guid(o.Id))
                .Add("user_event", userEvent).Add("order_after", Normal(o)).Add("lock", lockChange)));
            truth.Flush();
        }

        // The journal's shape: <events><event><id/><date/><type/><attribute><name/><value/></attribute>…
        void PostEvent(Terminal t, string type, JObj attributes)
        {
            t.Link.Call("events", "saveUserEvents", x =>
            {
                x.WriteStartElement("events");
                x.WriteStartElement("event");
                x.WriteElementString("id", J.Guid(Data.Id(500000 + step)).ToString());
                x.WriteElementString("date", J.Time(Clock()).ToString());
                x.WriteElementString("type", type);
                foreach (var a in attributes)
                {
                    x.WriteStartElement("attribute");
                    x.WriteElementString("name", a.Key);
                    x.WriteElementString("value", (string)a.Value);
                    x.WriteEndElement();
                }
                x.WriteEndElement();
                x.WriteEndElement();
            });
        }

        static JObj Normal(Order o)
        {
            return new JObj().Add("id", J.Guid(o.Id)).Add("number", o.Number).Add("status", o.Status)
                .Add("table", o.Tables[0].Num).Add("waiter", o.Waiter).Add("guests", o.Guests).Add("revision", o.SyncRevision)
                .Add("items", J.List(o.Items, i => (object)new JObj().Add("id", J.Guid(i.Id)).Add("product", i.Product)
                    .Add("amount", J.Dec(i.Amount)).Add("price", J.Dec(i.Price)).Add("printed", i.Printed)
                    .Add("deleted", i.Deleted)));
        }
    }
}
