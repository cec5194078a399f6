// The main cash: holds the authoritative open orders, grants order locks, accepts whole orders at the
// next revision and pushes every lock, unlock and accepted order to the other terminals' sessions.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.ServiceModel;
using System.Text;

namespace Wirecap.Interop.Store
{
    [ServiceBehavior(InstanceContextMode = InstanceContextMode.PerSession, ConcurrencyMode = ConcurrencyMode.Multiple)]
    public class MainCash : IMainCash
    {
        static readonly object Gate = new object();
        static readonly Dictionary<Guid, Order> Orders = new Dictionary<Guid, Order>();
        static readonly Dictionary<Guid, string> Locks = new Dictionary<Guid, string>();
        static readonly Dictionary<string, ITerminalEvents> Terminals = new Dictionary<string, ITerminalEvents>();
        static readonly Dictionary<string, string> Names = new Dictionary<string, string>();

        public List<Order> Register(string terminalId, string name)
        {
            return Join(terminalId, name, OperationContext.Current.GetCallbackChannel<ITerminalEvents>());
        }

        // A terminal joins with the channel its pushes go to (a WCF callback channel or a Remoting proxy).
        public static List<Order> Join(string terminalId, string name, ITerminalEvents events)
        {
            lock (Gate)
            {
                Terminals[terminalId] = events;
                Names[terminalId] = name;
                return Open().ToList();
            }
        }

        public bool LockOrder(Guid orderId, string terminalId)
        {
            lock (Gate)
            {
                string holder;
                if (Locks.TryGetValue(orderId, out holder) && holder != terminalId) return false;
                Locks[orderId] = terminalId;
                foreach (var other in Others(terminalId)) other.OrderLocked(orderId, terminalId);
                return true;
            }
        }

        public void UnlockOrder(Guid orderId, string terminalId)
        {
            lock (Gate)
            {
                if (!Locks.Remove(orderId)) throw new InvalidOperationException("order " + orderId + " is not locked");
                foreach (var other in Others(terminalId)) other.OrderUnlocked(orderId, terminalId);
            }
        }

        public long SyncOrder(Order order)
        {
            lock (Gate)
            {
                string holder;
                if (!Locks.TryGetValue(order.Id, out holder) || holder != order.LastChangedTerminalId)
                    throw new InvalidOperationException("order " + order.Number + " is not locked by its sender");
                Order known;
                long expected = Orders.TryGetValue(order.Id, out known) ? known.SyncRevision + 1 : 1;
                if (order.SyncRevision != expected)
                    throw new InvalidOperationException("order " + order.Number + ": revision " + order.SyncRevision + ", expected " + expected);
                Orders[order.Id] = order;
                foreach (var other in Others(holder)) other.OrderChanged(order);
                return order.SyncRevision;
            }
        }

        static IEnumerable<ITerminalEvents> Others(string terminalId)
        {
            return Terminals.Where(t => t.Key != terminalId).Select(t => t.Value).ToList();
        }

        static IEnumerable<Order> Open()
        {
            return Orders.Values.Where(o => o.Status != "CLOSED" && o.Status != "DELETED").OrderBy(o => o.Number);
        }

        // captures/store.orders.json: the open orders as the main cash holds them at the end.
        public static void WriteOpenOrders(string path)
        {
            var list = new List<object>();
            lock (Gate)
            {
                foreach (var o in Open())
                {
                    var items = o.Items.Where(i => !i.Deleted).ToList();
                    var table = o.Tables[0];
                    list.Add(new JObj().Add("id", J.Guid(o.Id)).Add("number", o.Number).Add("status", o.Status)
                        .Add("table", table.Num).Add("table_name", table.Name).Add("waiter", o.Waiter)
                        .Add("guests", o.Guests).Add("revision", o.SyncRevision)
                        .Add("items", J.List(items, i => (object)new JObj().Add("id", J.Guid(i.Id))
                            .Add("product", i.Product).Add("amount", J.Dec(i.Amount)).Add("price", J.Dec(i.Price))
                            .Add("printed", i.Printed)))
                        .Add("sum", J.Dec(Evening.Sum(items)))
                        .Add("last_changed_terminal", Names[o.LastChangedTerminalId])
                        .Add("last_changed_terminal_id", o.LastChangedTerminalId));
                }
            }
            File.WriteAllText(path, J.Write(list) + "\n", new UTF8Encoding(false));
        }
    }
}
