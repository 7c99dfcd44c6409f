// Junokit's own WebSocket class, unchanged but for its TypeScript types: a transcription
// of frontend/src/lib/websocket.ts in SwiftAkira/JunoKit (as of commit 994dc7c), so the e2e
// tests can run the Junokit web client's code against this backend. Do not "fix" it:
// it is here to show that the backend keeps working for it as it is.

class JunokitWebSocket {
  ws = null;
  url;
  token = null;
  reconnectAttempts = 0;
  maxReconnectAttempts = 5;
  reconnectDelay = 1000; // Start with 1 second
  eventHandlers = new Map();
  isConnecting = false;
  shouldReconnect = true;
  heartbeatInterval = null;

  constructor(url, token) {
    this.url = url;
    this.token = token || null;
  }

  setToken(token) {
    this.token = token;
  }

  connect() {
    return new Promise((resolve, reject) => {
      if (this.ws?.readyState === WebSocket.OPEN) {
        resolve();
        return;
      }

      if (this.isConnecting) {
        // Already connecting, wait for it
        this.once('connected', () => resolve());
        this.once('error', (error) => reject(error));
        return;
      }

      this.isConnecting = true;
      
      try {
        // Build WebSocket URL with auth token
        const wsUrl = this.token 
          ? `${this.url}?token=${encodeURIComponent(this.token)}`
          : this.url;

        console.log('Connecting to WebSocket:', wsUrl.replace(/token=[^&]+/, 'token=***'));
        
        this.ws = new WebSocket(wsUrl);

        this.ws.onopen = () => {
          console.log('WebSocket connected successfully');
          this.isConnecting = false;
          this.reconnectAttempts = 0;
          this.reconnectDelay = 1000;
          
          // Start heartbeat
          this.startHeartbeat();
          
          this.emit('connected', { type: 'connected' });
          resolve();
        };

        this.ws.onmessage = (event) => {
          try {
            const message = JSON.parse(event.data);
            console.log('WebSocket message received:', message);
            
            // Emit specific event type
            this.emit(message.type, message);
            
            // Also emit generic 'message' event
            this.emit('message', message);
          } catch (error) {
            console.error('Error parsing WebSocket message:', error);
          }
        };

        this.ws.onclose = (event) => {
          console.log('WebSocket connection closed:', event.code, event.reason);
          this.isConnecting = false;
          this.stopHeartbeat();
          
          this.emit('disconnected', { 
            type: 'disconnected', 
            code: event.code, 
            reason: event.reason 
          });

          // Attempt to reconnect if appropriate
          if (this.shouldReconnect && event.code !== 1000) {
            this.attemptReconnect();
          }
        };

        this.ws.onerror = (error) => {
          console.error('WebSocket error:', error);
          this.isConnecting = false;
          this.emit('error', { type: 'error', message: 'Connection error' });
          reject(error);
        };

      } catch (error) {
        this.isConnecting = false;
        reject(error);
      }
    });
  }

  disconnect() {
    this.shouldReconnect = false;
    this.stopHeartbeat();
    
    if (this.ws) {
      this.ws.close(1000, 'Client disconnect');
      this.ws = null;
    }
  }

  send(message) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('WebSocket is not connected'));
        return;
      }

      try {
        this.ws.send(JSON.stringify(message));
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  }

  // Convenience methods for common actions
  async ping() {
    return this.send({ action: 'ping' });
  }

  async sendTypingIndicator(conversationId, isTyping) {
    return this.send({
      action: 'chat_typing',
      data: { conversationId, isTyping }
    });
  }

  async sendChatMessage(conversationId, message) {
    return this.send({
      action: 'chat_message',
      data: { conversationId, message }
    });
  }

  async updateUserStatus(status) {
    return this.send({
      action: 'user_status',
      data: { status }
    });
  }

  async subscribeToNotifications(notificationTypes) {
    return this.send({
      action: 'subscribe_notifications',
      data: { notificationTypes }
    });
  }

  // Event handling
  on(event, handler) {
    if (!this.eventHandlers.has(event)) {
      this.eventHandlers.set(event, []);
    }
    this.eventHandlers.get(event).push(handler);
  }

  off(event, handler) {
    const handlers = this.eventHandlers.get(event);
    if (handlers) {
      const index = handlers.indexOf(handler);
      if (index > -1) {
        handlers.splice(index, 1);
      }
    }
  }

  once(event, handler) {
    const onceHandler = (data) => {
      handler(data);
      this.off(event, onceHandler);
    };
    this.on(event, onceHandler);
  }

  emit(event, data) {
    const handlers = this.eventHandlers.get(event);
    if (handlers) {
      handlers.forEach(handler => {
        try {
          handler(data);
        } catch (error) {
          console.error('Error in WebSocket event handler:', error);
        }
      });
    }
  }

  startHeartbeat() {
    this.stopHeartbeat();
    
    // Send ping every 30 seconds to keep connection alive
    this.heartbeatInterval = setInterval(() => {
      if (this.ws?.readyState === WebSocket.OPEN) {
        this.ping().catch(error => {
          console.error('Heartbeat ping failed:', error);
        });
      }
    }, 30000);
  }

  stopHeartbeat() {
    if (this.heartbeatInterval) {
      clearInterval(this.heartbeatInterval);
      this.heartbeatInterval = null;
    }
  }

  attemptReconnect() {
    if (this.reconnectAttempts >= this.maxReconnectAttempts) {
      console.log('Max reconnection attempts reached');
      this.emit('reconnect_failed', { 
        type: 'reconnect_failed', 
        message: 'Maximum reconnection attempts exceeded' 
      });
      return;
    }

    this.reconnectAttempts++;
    console.log(`Attempting to reconnect (${this.reconnectAttempts}/${this.maxReconnectAttempts})...`);

    setTimeout(() => {
      this.connect().catch(error => {
        console.error('Reconnection failed:', error);
        // Exponential backoff
        this.reconnectDelay = Math.min(this.reconnectDelay * 2, 30000);
        this.attemptReconnect();
      });
    }, this.reconnectDelay);
  }

  get isConnected() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get connectionState() {
    if (!this.ws) return 'disconnected';
    
    switch (this.ws.readyState) {
      case WebSocket.CONNECTING: return 'connecting';
      case WebSocket.OPEN: return 'connected';
      case WebSocket.CLOSING: return 'closing';
      case WebSocket.CLOSED: return 'disconnected';
      default: return 'unknown';
    }
  }
}

// Singleton instance
let webSocketInstance = null;

export function createWebSocket(token) {
  // Get WebSocket URL from environment or use production URL
  const wsUrl = process.env.NEXT_PUBLIC_WEBSOCKET_URL || 'wss://jxog5mi321.execute-api.eu-north-1.amazonaws.com/v1';
  
  if (webSocketInstance) {
    if (token) {
      webSocketInstance.setToken(token);
    }
    return webSocketInstance;
  }
  
  webSocketInstance = new JunokitWebSocket(wsUrl, token);
  return webSocketInstance;
}

export function getWebSocket() {
  return webSocketInstance;
}

export function destroyWebSocket() {
  if (webSocketInstance) {
    webSocketInstance.disconnect();
    webSocketInstance = null;
  }
}

export { JunokitWebSocket }; 