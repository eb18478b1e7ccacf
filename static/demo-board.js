/*
 * The kanban board panel of the demo page (static/demo.js sets it up once logged in):
 * each board the user may see, first as the server keeps it (GET /demo/board/{id}),
 * then live from /topic/board/{id}; cards are added, moved and deleted with
 * BOARD_UPDATE messages. Uses the helpers of demo-support.js. Plain ES5, no build step.
 */
(function () {
  'use strict';

  var COLUMNS = [
    { id: 'todo', title: 'To do' },
    { id: 'doing', title: 'In progress' },
    { id: 'done', title: 'Done' }
  ];

  function $(id) { return document.getElementById(id); }

  var support = window.NexusDemoSupport;
  var el = support.el;
  var clear = support.clear;
  var request = support.request;
  var logEvent = support.logEvent;

  /**
   * The board panel of the page whose `page` is {state, userName(id), withToken(fn)}
   * (demo.js's state, where it reads `user` and `client`, and two of its helpers).
   * Returns {setup(client)}.
   */
  function boardPanel(page) {
    var state = page.state;
    var userName = page.userName;
    var withToken = page.withToken;
    var panel = {
      board: null,         // selected board id
      boards: {}           // boardId -> {cards: {cardId: {...}}, order: [cardId]}
    };

    function setupBoard(client) {
      var boards = state.user.boards;
      var select = $('board-select');
      clear(select);
      var i;
      for (i = 0; i < boards.length; i++) {
        select.appendChild(el('option', { value: boards[i], text: boards[i] }));
        panel.boards[boards[i]] = { cards: {}, order: [] };
        loadBoard(client, boards[i]);
      }
      $('board-none').hidden = boards.length > 0;
      $('card-form').hidden = boards.length === 0;
      select.hidden = boards.length === 0;
      panel.board = boards.length ? boards[0] : null;
      select.onchange = function () { panel.board = select.value; renderBoard(); };
      $('card-form').onsubmit = function () {
        var input = $('card-title');
        if (!input.value || !panel.board) { return false; }
        var cardId = 'c' + new Date().getTime().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
        support.sendFromForm(state.client, $('card-form'), '/topic/board/' + panel.board, state.client.envelope('BOARD_UPDATE',
          { boardId: panel.board, action: 'add', data: { cardId: cardId, title: input.value, column: 'todo' } }), [input]);
        return false;
      };
      renderBoard();
    }

    /** The board as the server keeps it (GET /demo/board/{id}), then live from its seq;
     * without that state (the request failed), its whole retained history. */
    function loadBoard(client, boardId) {
      withToken(function (token) {
        request('GET', '/demo/board/' + encodeURIComponent(boardId), null, token, function (err, data) {
          var since = 0;
          if (!err && data) {
            var board = { cards: {}, order: [] };
            for (var i = 0; i < data.cards.length; i++) {
              board.cards[data.cards[i].id] = data.cards[i];
              board.order.push(data.cards[i].id);
            }
            panel.boards[boardId] = board;
            since = data.seq;
            if (boardId === panel.board) { renderBoard(); }
          } else {
            logEvent('board ' + boardId + ': ' + (err ? err.message : 'no state') + '; replaying its history');
          }
          client.subscribe('/topic/board/' + boardId, function (env, meta) { onBoard(boardId, env, meta); }, { since: since });
        });
      });
    }

    function sendBoard(action, data) {
      var client = state.client;
      client.send('/topic/board/' + panel.board,
        client.envelope('BOARD_UPDATE', { boardId: panel.board, action: action, data: data }));
    }

    function onBoard(boardId, env, meta) {
      var board = panel.boards[boardId];
      if (!board || !env || env.type !== 'BOARD_UPDATE') { return; }
      var p = env.payload || {};
      var data = p.data || {};
      var id = data.cardId;
      if (!id) { return; }
      if (p.action === 'add') {
        if (!board.cards[id]) { board.order.push(id); }
        board.cards[id] = { id: id, title: String(data.title || id), column: data.column || 'todo', by: env.senderId, seq: meta.seq };
      } else if (p.action === 'move' && board.cards[id]) {
        board.cards[id].column = data.to || board.cards[id].column;
        board.cards[id].by = env.senderId;
        board.cards[id].seq = meta.seq;
      } else if (p.action === 'delete' && board.cards[id]) {
        delete board.cards[id];
        board.order.splice(board.order.indexOf(id), 1);
      }
      if (boardId === panel.board) { renderBoard(); }
    }

    function renderBoard() {
      var container = $('board-columns');
      clear(container);
      if (!panel.board) { return; }
      var board = panel.boards[panel.board];
      for (var c = 0; c < COLUMNS.length; c++) {
        var column = COLUMNS[c];
        var list = el('ul', { className: 'cards', 'aria-labelledby': 'col-' + column.id });
        for (var i = 0; i < board.order.length; i++) {
          var card = board.cards[board.order[i]];
          if (card.column === column.id) { list.appendChild(cardItem(card, c)); }
        }
        container.appendChild(el('div', { className: 'column', 'data-column': column.id },
          [el('h3', { id: 'col-' + column.id, text: column.title }), list]));
      }
    }

    function cardItem(card, columnIndex) {
      var buttons = [];
      if (columnIndex > 0) {
        buttons.push(moveButton(card, COLUMNS[columnIndex - 1], '←'));
      }
      if (columnIndex < COLUMNS.length - 1) {
        buttons.push(moveButton(card, COLUMNS[columnIndex + 1], '→'));
      }
      var del = el('button', { type: 'button', className: 'small danger', 'aria-label': 'Delete ' + card.title, text: '✕' });
      del.onclick = function () { sendBoard('delete', { cardId: card.id }); };
      buttons.push(del);
      return el('li', { className: 'kanban-card', 'data-card': card.id, 'data-seq': card.seq },
        [el('span', { className: 'card-title', text: card.title }),
         el('span', { className: 'muted by', text: userName(card.by) }),
         el('span', { className: 'card-actions' }, buttons)]);
    }

    function moveButton(card, target, arrow) {
      var b = el('button', { type: 'button', className: 'small', 'data-move-to': target.id,
        'aria-label': 'Move ' + card.title + ' to ' + target.title, text: arrow });
      b.onclick = function () { sendBoard('move', { cardId: card.id, to: target.id }); };
      return b;
    }

    return { setup: setupBoard };
  }

  window.NexusDemoBoard = boardPanel;
}());
